"""``tutorbook-bench-retrieval``: retriever speed on this machine, measured side by side in one run, with
Qdrant Edge (the embedded default) beside qdrant-client's local mode (the earlier default).

1. Ingestion of the E-Manual S10 corpus: the time of each stage (chunk, embed, sparse vectors, write and
   commit) and chunks per second end to end through ``ingest_documents``, per backend. Then long pages
   through the gateway against the embedder alone, and an edited corpus sent again
   (:mod:`tutorbook_evals.bench_ingestion`).
2. Single-query embedding latency, sentence-transformers (torch) against ONNX Runtime.
3. Search through the retriever's HTTP API (query embedding included, hybrid, top 5) at several index
   sizes (local mode, which searches exactly, only up to ``--local-largest``), each backend in its own
   retriever process: p50 / p95 through HTTP and inside the retriever, and the process's memory; and beside each
   search, interleaved in the same run, the same search filtered by permission (``visible_to``, with a
   fifth of the chunks private to other teams): its p50 / p95 and its ratio to the unfiltered one (the
   target: within 1.2x at 100,000 chunks, ``FILTERED_TARGET_CHUNKS``).

Figures go to ``data/bench/retrieval.json`` too.
"""

import argparse
import dataclasses
import functools
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tutorbook_config.service_settings import replaced
from tutorbook_devstack.bench_report import summary, timed, write_results
from tutorbook_evals.bench_ingestion import bench_ingestion_through_gateway
from tutorbook_evals.bench_search import (
    LOCAL_LARGEST,
    bench_served_search,
    permission_filter_summary,
    planned_searches,
)
from tutorbook_evals.retrieval_charts import plot_search_latency
from tutorbook_evals.retrieval_corpora import DATASETS, EvalCorpus, load_corpus, manual_pages
from tutorbook_retriever import lexical
from tutorbook_retriever.chunking import chunk_document
from tutorbook_retriever.clients.chunk_index import ChunkPoint
from tutorbook_retriever.clients.embedder import Embedder, SentenceTransformerEmbedder, default_embedding_model_path
from tutorbook_retriever.clients.onnx_embedder import OnnxEmbedder
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.ingestion import IngestLimits, build_points, content_hash, ingest_documents
from tutorbook_retriever.schemas import DocumentIn
from tutorbook_retriever.settings import RetrieverSettings
from tutorbook_retriever.vectors import embedding_text
from tutorbook_retriever.wiring import ingest_limits, onnx_cache_dir, open_store

BACKENDS = ["local", "edge"]
INGEST_BATCH = 256  # documents per ingestion call: the most tutorbook-ingest sends (and a request may carry)
WRITE_BATCH = 256


@contextmanager
def fresh_store(settings: RetrieverSettings, folder: Path, backend: str, dimension: int) -> Iterator[Store]:
    embedded = replaced(settings, shared__data_dir=folder, store__embedded=backend, store__qdrant_url="")
    store, close = open_store(embedded, dimension)
    try:
        yield store
    finally:
        close()


def corpus_points(
    corpus: EvalCorpus, embedder: Embedder, settings: RetrieverSettings
) -> tuple[list[ChunkPoint], dict[str, Any]]:
    """The corpus's chunks as ingestion builds them, the seconds each stage took, and the embedded texts."""
    budget = (settings.ingest.chunk_max_tokens, settings.ingest.chunk_overlap_tokens)
    chunked, chunking = timed(lambda: [(d, chunk_document(d.text, *budget)) for d in corpus.documents])
    texts = [embedding_text(document.title or document.id, chunk) for document, chunks in chunked for chunk in chunks]
    vectors, embedding = timed(lambda: embedder.embed(texts))
    sparse, sparse_seconds = timed(lambda: [lexical.document_vector(text) for text in texts])
    points, start = [], 0
    for document, chunks in chunked:
        end = start + len(chunks)
        points += build_points(document, content_hash(document), chunks, vectors[start:end], sparse[start:end])
        start = end
    return points, {"chunk": chunking, "embed": embedding, "sparse_vectors": sparse_seconds, "texts": texts}


def write_all(store: Store, points: list[ChunkPoint]) -> None:
    for start in range(0, len(points), WRITE_BATCH):
        store.chunks.write(points[start : start + WRITE_BATCH])


def ingest_all(store: Store, documents: list[DocumentIn], embedder: Embedder, limits: IngestLimits) -> None:
    for start in range(0, len(documents), INGEST_BATCH):
        ingest_documents(documents[start : start + INGEST_BATCH], embedder, store, limits)


def bench_ingestion(
    corpus: EvalCorpus, embedder: Embedder, fp32: Embedder, settings: RetrieverSettings, root: Path
) -> dict[str, Any]:
    """Stages and end to end with ``embedder`` (the configured precision); the embedding stage in fp32 too."""
    points, stages = corpus_points(corpus, embedder, settings)
    _, stages["embed_fp32"] = timed(functools.partial(fp32.embed, stages.pop("texts")))
    stages[f"embed_{settings.embedding.precision}"] = stages.pop("embed")
    chunks, documents = len(points), corpus.documents
    print(f"\n== Ingestion: {corpus.name}, {len(documents)} documents, {chunks} chunks (seconds, chunks/s)")
    limits = ingest_limits(settings, max_documents=10_000)
    end_to_end = {}
    for backend in BACKENDS:
        with fresh_store(settings, root / f"write-{backend}", backend, embedder.dimension) as store:
            _, stages[f"write_{backend}"] = timed(functools.partial(write_all, store, points))
        with fresh_store(settings, root / f"ingest-{backend}", backend, embedder.dimension) as store:
            _, seconds = timed(functools.partial(ingest_all, store, documents, embedder, limits))
        end_to_end[backend] = {"seconds": seconds, "chunks_per_second": chunks / seconds}
    for stage, seconds in stages.items():
        print(f"  {stage:<22}{seconds:8.2f} {chunks / seconds:9.0f}")
    for backend, figures in end_to_end.items():
        print(f"  end to end, {backend:<10}{figures['seconds']:8.2f} {figures['chunks_per_second']:9.0f}")
    return {"chunks": chunks, "stage_seconds": stages, "end_to_end": end_to_end}


def bench_query_embedding(backends: dict[str, Embedder], questions: list[str], queries: int) -> dict[str, Any]:
    print(f"\n== Single-query embedding latency ({queries} queries, batch of 1)")
    figures = {}
    for name, embedder in backends.items():
        for question in questions[:5]:
            embedder.embed([question])
        timings = []
        for n in range(queries):
            _, seconds = timed(functools.partial(embedder.embed, [questions[n % len(questions)]]))
            timings.append(seconds * 1000)
        figures[name] = summary(timings)
        print(f"{name:<6}p50 {figures[name]['p50']:6.2f} ms   p95 {figures[name]['p95']:6.2f} ms")
    print(f"onnx is {figures['torch']['p50'] / figures['onnx']['p50']:.1f}x faster than torch at the median")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="tutorbook-bench-retrieval", description=__doc__)
    parser.add_argument("--dataset", choices=DATASETS, default="emanual-s10")
    parser.add_argument("--data", type=Path, default=Path("../shared/eval-data/emanual-qa"))
    parser.add_argument(
        "--sizes", default="1000,10000,100000,250000", help="index sizes (chunks) for search; '' for none"
    )
    parser.add_argument("--backends", default=",".join(BACKENDS), help="embedded stores to search, side by side")
    parser.add_argument(
        "--local-largest", type=int, default=LOCAL_LARGEST, help="the largest index local mode searches (exact)"
    )
    parser.add_argument("--queries", type=int, default=100, help="timed queries per measurement")
    parser.add_argument(
        "--ingest-rounds", type=int, default=3, help="long pages through the gateway, each round beside the embedder"
    )
    parser.add_argument("--manuals", type=Path, default=Path("../shared/eval-data/emanual-qa"), help="long pages' text")
    parser.add_argument("--plot", type=Path, help="also draw search latency against index size as a PNG here")
    parser.add_argument("--json", type=Path, help="where the figures go (default data/bench/retrieval.json)")
    args = parser.parse_args()
    settings = RetrieverSettings()
    corpus = load_corpus(args.dataset, args.data)
    model = settings.embedding.model or default_embedding_model_path()
    fp32 = OnnxEmbedder(model, onnx_cache_dir(settings), precision="fp32")
    onnx = OnnxEmbedder(model, onnx_cache_dir(settings), precision=settings.embedding.precision)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tutorbook-bench-") as tmp:
        figures["ingestion"] = bench_ingestion(corpus, onnx, fp32, settings, Path(tmp))
        if args.ingest_rounds:
            pages = manual_pages(args.manuals)
            figures["long_pages"] = bench_ingestion_through_gateway(pages, onnx, args.ingest_rounds)
        embedders: dict[str, Embedder] = {"torch": SentenceTransformerEmbedder(model), "onnx": onnx}
        figures["query_embedding_ms"] = bench_query_embedding(
            embedders, [q.text for q in corpus.questions], args.queries
        )
        print("\n== Search through the retriever's HTTP API, query embedding included (hybrid, top 5)")
        originals, _ = corpus_points(corpus, onnx, settings)
        sizes = [int(size) for size in args.sizes.split(",") if size]  # none: ingestion and embedding only
        searches = planned_searches(sizes, args.backends.split(","), args.local_largest)
        served = bench_served_search(corpus, originals, searches, args.queries, Path(tmp))
    figures["search"] = [dataclasses.asdict(row) for row in served]
    figures["permission_filter"] = permission_filter_summary(served)
    print(f"figures: {write_results('retrieval', figures, args.json)}")
    if args.plot is not None and sizes:
        rows = {
            size: {row.backend: (row.latency_ms["p50"], row.latency_ms["p95"]) for row in served if row.chunks == size}
            for size in sizes
        }
        print(f"chart: {plot_search_latency(rows, args.plot)}")


if __name__ == "__main__":
    main()
