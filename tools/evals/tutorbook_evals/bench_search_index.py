"""``python -m tutorbook_evals.bench_search_index`` (``make bench-search-index``): where a large index's
search time goes on Qdrant Edge, and what building its HNSW index would change.

At each size, an Edge chunk index is filled the way ``bench-retrieval`` fills its large ones (the E-Manual
S10 chunks repeated with slightly perturbed vectors), and the E-Manual questions are timed in this
process (no HTTP), three ways: the dense top 50, the sparse (BM25) top 50, and the retriever's hybrid
top 5 with its query embedding. Then the retriever's graph build (another process builds the HNSW graph
on a copy, and it is swapped in: ``tutorbook_retriever.clients.edge.graph``) runs while this process keeps
searching (how many searches finished meanwhile, how long they took, the longest wait and the swap's
pause), and the three are timed again, with the share of the exact dense top 50 the graph still finds.
Figures: ``data/bench/search-index.json``.

Repeated chunks are near-duplicates of each other, which is hard on a graph and easy on nothing else,
so the overlap is a floor; and their sparse vectors repeat 470 texts, so posting lists are longer than
real text's. Read it for where the time goes, not as a real corpus's figures.
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tutorbook_config.service_settings import replaced
from tutorbook_devstack.bench_report import summary, write_results
from tutorbook_evals import bench_search
from tutorbook_evals.bench_retrieval import corpus_points, fresh_store
from tutorbook_evals.retrieval_corpora import load_corpus
from tutorbook_retriever import lexical
from tutorbook_retriever.clients.embedder import Embedder, default_embedding_model_path
from tutorbook_retriever.clients.onnx_embedder import OnnxEmbedder
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.search import SearchOptions, search_chunks
from tutorbook_retriever.settings import RetrieverSettings
from tutorbook_retriever.wiring import onnx_cache_dir

CANDIDATES = 50  # each signal's top, as hybrid search asks for


def timings(call: Callable[[int], Any], queries: int, rounds: int) -> dict[str, float]:
    milliseconds = []
    for _ in range(rounds):
        for index in range(queries):
            started = time.perf_counter()
            call(index)
            milliseconds.append((time.perf_counter() - started) * 1000)
    return summary(milliseconds)


def searches(store: Store, questions: list[str], vectors: list[list[float]], embedder: Embedder) -> dict[str, Any]:
    sparse = [lexical.query_vector(question) for question in questions]
    return {
        "dense_ms": timings(lambda i: store.chunks.dense_search(vectors[i], CANDIDATES, {}, None), len(vectors), 3),
        "sparse_ms": timings(lambda i: store.chunks.lexical_search(sparse[i], CANDIDATES, {}, None), len(sparse), 3),
        "hybrid_ms": timings(
            lambda i: search_chunks(questions[i], SearchOptions(top_k=5), embedder, store), len(questions), 3
        ),
    }


def dense_tops(store: Store, vectors: list[list[float]]) -> list[set[str]]:
    return [{hit.point_id for hit in store.chunks.dense_search(vector, CANDIDATES, {}, None)} for vector in vectors]


def build_while_searching(store: Store, shard: Any, vectors: list[list[float]]) -> dict[str, Any]:
    """The graph built by another process beside the index (as the retriever does), dense searches of the
    index on this thread until it is swapped in: how many finished, their times, the longest this thread
    went without finishing one, and how long the swap held searches back."""
    meanwhile: list[float] = []
    last = time.perf_counter()
    shard.start_build()
    while shard.building:
        store.chunks.dense_search(vectors[len(meanwhile) % len(vectors)], CANDIDATES, {}, None)
        now = time.perf_counter()
        meanwhile.append((now - last) * 1000)
        last = now
    shard.wait_built()
    report = shard.last_build
    return {
        "seconds": report.seconds, "searches_meanwhile": len(meanwhile), "search_ms_meanwhile": summary(meanwhile),
        "longest_wait_ms": max(meanwhile, default=0.0), "swap_pause_ms": report.paused_ms,
    }  # fmt: skip


def measure_size(size: int, data: Path, embedder: Embedder, root: Path) -> dict[str, Any]:
    settings = replaced(RetrieverSettings(), store__graph_after_chunks=0)  # built below, while searching
    corpus = load_corpus("emanual-s10", data)
    questions = [question.text for question in corpus.questions]
    vectors = embedder.embed(questions)
    originals, _ = corpus_points(corpus, embedder, settings)
    with fresh_store(settings, root / f"index-{size}", "edge", embedder.dimension) as store:
        bench_search.grow_index(store, corpus, originals, size, seed=size)
        before, exact = searches(store, questions, vectors, embedder), dense_tops(store, vectors)
        building = build_while_searching(store, store.chunks._shard, vectors)  # type: ignore[attr-defined]
        after, graph = searches(store, questions, vectors, embedder), dense_tops(store, vectors)
    overlap = statistics.mean(len(found & wanted) / len(wanted) for found, wanted in zip(graph, exact, strict=True))
    row = {"chunks": size, "exact": before, "build": building, "hnsw": after, "dense_overlap": overlap}
    print(f"\n{size:,} chunks ({len(questions)} questions x 3), p50 ms before -> after the graph:")
    for signal in ("dense_ms", "sparse_ms", "hybrid_ms"):
        print(f"  {signal:<10}{before[signal]['p50']:8.2f} -> {after[signal]['p50']:8.2f}")
    print(f"  built beside it in {building['seconds']:.1f} s; {building['searches_meanwhile']} searches meanwhile "
          f"(p50 {building['search_ms_meanwhile']['p50']:.1f} ms, the longest wait {building['longest_wait_ms']:.0f} "
          f"ms); the swap held searches {building['swap_pause_ms']:.0f} ms; the graph finds {overlap:.1%} of the "
          f"exact top {CANDIDATES}")  # fmt: skip
    return row


def main() -> None:
    parser = argparse.ArgumentParser(prog="tutorbook-bench-search-index", description=__doc__)
    parser.add_argument("--sizes", default="100000,250000", help="index sizes (chunks)")
    parser.add_argument("--data", type=Path, default=Path("../shared/eval-data/emanual-qa"), help="E-Manual QA")
    parser.add_argument("--json", type=Path, help="where the figures go (default data/bench/search-index.json)")
    args = parser.parse_args()
    settings = RetrieverSettings()
    model = settings.embedding.model or default_embedding_model_path()
    embedder = OnnxEmbedder(model, onnx_cache_dir(settings), precision=settings.embedding.precision)
    with tempfile.TemporaryDirectory(prefix="tutorbook-bench-") as tmp:
        rows = [measure_size(int(size), args.data, embedder, Path(tmp)) for size in args.sizes.split(",") if size]
    print(f"figures: {write_results('search-index', {'sizes': rows}, args.json)}")


if __name__ == "__main__":
    main()
