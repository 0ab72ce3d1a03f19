"""``tutorbook-bench-retrieval``: retriever speed on this machine, measured side by side in one run.

1. Ingestion throughput (documents and chunks per second) of the E-Manual S10 corpus, per backend.
2. Single-query embedding latency, sentence-transformers (torch) against ONNX Runtime.
3. Search latency (p50 / p95, query embedding excluded) at several index sizes, for each search mode.
   Larger indexes repeat the corpus's real chunks with slightly perturbed vectors.
"""

import argparse
import dataclasses
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm import tqdm

from tutorbook_evals.retrieval_charts import plot_search_latency
from tutorbook_evals.retrieval_corpora import DATASETS, EvalCorpus, load_corpus
from tutorbook_retriever.chunking import chunk_document
from tutorbook_retriever.clients.chunk_index import ChunkPoint
from tutorbook_retriever.clients.document_registry import DocumentRecord
from tutorbook_retriever.clients.embedder import Embedder, SentenceTransformerEmbedder, default_embedding_model_path
from tutorbook_retriever.clients.onnx_embedder import OnnxEmbedder
from tutorbook_retriever.clients.qdrant import open_qdrant
from tutorbook_retriever.ingestion import IngestLimits, build_points, content_hash, embedding_text, ingest_documents
from tutorbook_retriever.schemas import SearchMode
from tutorbook_retriever.search import SearchOptions, search_chunks
from tutorbook_retriever.settings import RetrieverSettings
from tutorbook_retriever.store import Store
from tutorbook_retriever.wiring import qdrant_store, search_defaults

MODES: tuple[SearchMode, ...] = ("dense", "lexical", "hybrid")


class PrecomputedEmbedder:
    """Answers with vectors computed beforehand, so search timings exclude the embedding."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self._vectors = vectors

    @property
    def dimension(self) -> int:
        return len(next(iter(self._vectors.values())))

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._vectors[text] for text in texts]


def percentiles_ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000


def time_each(call: Callable[[str], object], queries: list[str], repeats: int, warmup: int = 5) -> list[float]:
    """Seconds per call, cycling through ``queries``."""
    for query in queries[:warmup]:
        call(query)
    timings = []
    for n in range(repeats):
        started = time.perf_counter()
        call(queries[n % len(queries)])
        timings.append(time.perf_counter() - started)
    return timings


def fresh_store(folder: Path, dimension: int) -> Store:
    store = qdrant_store(open_qdrant("", "", folder), "bench", RetrieverSettings().max_answered_questions)
    store.ensure(dimension)
    return store


def bench_ingestion(corpus: EvalCorpus, embedder: Embedder, settings: RetrieverSettings, folder: Path) -> str:
    store = fresh_store(folder, embedder.dimension)
    limits = IngestLimits(10_000, settings.max_document_chars, settings.chunk_max_tokens, settings.chunk_overlap_tokens)
    started = time.perf_counter()
    for start in range(0, len(corpus.documents), 64):
        ingest_documents(corpus.documents[start : start + 64], embedder, store, limits)
    seconds = time.perf_counter() - started
    chunks = store.chunks.count()
    return f"{len(corpus.documents) / seconds:8.1f} docs/s {chunks / seconds:8.1f} chunks/s ({seconds:.1f} s)"


def corpus_points(corpus: EvalCorpus, embedder: Embedder, settings: RetrieverSettings) -> list[ChunkPoint]:
    """The corpus's chunks as ingestion builds them (same chunker, same embedding text)."""
    chunked = [
        (document, chunk_document(document.text, settings.chunk_max_tokens, settings.chunk_overlap_tokens))
        for document in corpus.documents
    ]
    texts = [embedding_text(document.title or document.id, chunk) for document, chunks in chunked for chunk in chunks]
    vectors = iter(embedder.embed(texts))
    return [
        point
        for document, chunks in chunked
        for point in build_points(document, content_hash(document), chunks, [next(vectors) for _ in chunks])
    ]


def grow_index(store: Store, corpus: EvalCorpus, originals: list[ChunkPoint], size: int, rng: random.Random) -> None:
    """Fill ``store`` with ``size`` chunks: the corpus's chunks, repeated with slightly perturbed vectors."""
    store.registry.put([DocumentRecord(d.id, d.title, content_hash(d), 1) for d in corpus.documents])
    batch: list[ChunkPoint] = []
    for n in tqdm(range(size), desc=f"index {size}", unit="chunk", leave=False):
        original = originals[n % len(originals)]
        dense = [value + rng.gauss(0, 0.02) for value in original.dense]
        norm = sum(value * value for value in dense) ** 0.5
        payload = dict(original.payload, chunk_id=f"{original.payload['chunk_id']}~{n}")
        point_id = f"00000000-0000-4000-8000-{n:012d}"
        batch.append(ChunkPoint(point_id, [value / norm for value in dense], original.lexical, payload))
        if len(batch) == 1000:
            store.chunks.write(batch)
            batch = []
    if batch:
        store.chunks.write(batch)


def bench_query_embedding(backends: dict[str, Embedder], questions: list[str], queries: int) -> None:
    print(f"\n== Single-query embedding latency ({queries} queries, batch of 1)")
    medians = {}
    for name, embedder in backends.items():
        p50, p95 = percentiles_ms(time_each(lambda query, e=embedder: e.embed([query]), questions, queries))  # type: ignore[misc]
        medians[name] = p50
        print(f"{name:<6}p50 {p50:6.2f} ms   p95 {p95:6.2f} ms")
    print(f"onnx is {medians['torch'] / medians['onnx']:.1f}x faster than torch at the median")


def main() -> None:
    parser = argparse.ArgumentParser(prog="tutorbook-bench-retrieval", description=__doc__)
    parser.add_argument("--dataset", choices=DATASETS, default="emanual-s10")
    parser.add_argument("--data", type=Path, default=Path("../shared/eval-data/emanual-qa"))
    parser.add_argument("--sizes", default="1000,10000,20000", help="index sizes (chunks) for search latency")
    parser.add_argument("--queries", type=int, default=100, help="timed queries per measurement")
    parser.add_argument("--plot", type=Path, help="also draw search latency against index size as a PNG here")
    args = parser.parse_args()
    settings = RetrieverSettings()
    corpus = load_corpus(args.dataset, args.data)
    questions = [question.text for question in corpus.questions]
    model = settings.embedding_model or default_embedding_model_path()
    backends: dict[str, Embedder] = {
        "torch": SentenceTransformerEmbedder(model),
        "onnx": OnnxEmbedder(model, settings.onnx_cache_dir()),
    }
    with tempfile.TemporaryDirectory(prefix="tutorbook-bench-") as tmp:
        print(f"\n== Ingestion: {corpus.name}, {len(corpus.documents)} documents (chunk, embed, write)")
        for name, embedder in backends.items():
            print(f"{name:<6}{bench_ingestion(corpus, embedder, settings, Path(tmp) / f'ingest-{name}')}")

        bench_query_embedding(backends, questions, args.queries)

        print("\n== Search latency, query embedding excluded (p50 / p95 ms)")
        originals = corpus_points(corpus, backends["onnx"], settings)
        precomputed = PrecomputedEmbedder(dict(zip(questions, backends["onnx"].embed(questions), strict=True)))
        print(f"{'chunks':>8}" + "".join(f"{mode:>20}" for mode in MODES))
        rng = random.Random(7)
        latency: dict[int, dict[str, tuple[float, float]]] = {}
        for size in [int(size) for size in args.sizes.split(",")]:
            store = fresh_store(Path(tmp) / f"size-{size}", precomputed.dimension)
            grow_index(store, corpus, originals, size, rng)
            row = f"{store.chunks.count():>8}"
            for mode in MODES:
                options = dataclasses.replace(search_defaults(settings), mode=mode, top_k=5)

                def run_search(query: str, options: SearchOptions = options, store: Store = store) -> object:
                    return search_chunks(query, options, precomputed, store)

                p50, p95 = percentiles_ms(time_each(run_search, questions, args.queries))
                latency.setdefault(size, {})[mode] = (p50, p95)
                row += f"{p50:>11.1f} / {p95:>6.1f}"
            print(row, flush=True)
    if args.plot is not None:
        print(f"chart: {plot_search_latency(latency, args.plot)}")


if __name__ == "__main__":
    main()
