"""The retriever's Prometheus metrics, registered on a registry owned by the app (no global registry)."""

from dataclasses import dataclass
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tutorbook_retriever.ingestion import IngestStatus

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class RetrieverMetrics:
    registry: CollectorRegistry
    documents_ingested: Counter
    chunks_indexed: Counter
    chunks_embedded: Counter
    ingest_failures: Counter
    ingest_seconds: Histogram
    search_seconds: Histogram
    query_embedding_seconds: Histogram
    indexed_documents: Gauge
    indexed_chunks: Gauge
    index_version: Gauge


def create_retriever_metrics() -> RetrieverMetrics:
    registry = CollectorRegistry()
    metrics = RetrieverMetrics(
        registry=registry,
        documents_ingested=Counter(
            "tutorbook_retriever_documents_ingested",
            "Documents in accepted ingest requests, by outcome (created, updated, unchanged)",
            ["status"],
            registry=registry,
        ),
        chunks_indexed=Counter("tutorbook_retriever_chunks_indexed", "Chunks written to the index", registry=registry),
        chunks_embedded=Counter(
            "tutorbook_retriever_chunks_embedded",
            "Chunks written with a new embedding (the others kept the vector of their unchanged text)",
            registry=registry,
        ),
        ingest_failures=Counter(
            "tutorbook_retriever_ingest_failures", "Ingest requests refused or failed", ["reason"], registry=registry
        ),
        ingest_seconds=Histogram(
            "tutorbook_retriever_ingest_duration_seconds",
            "Time to ingest one request (chunking, embedding, writing)",
            registry=registry,
            buckets=LATENCY_BUCKETS,
        ),
        search_seconds=Histogram(
            "tutorbook_retriever_search_duration_seconds",
            "Time to answer one search, query embedding included, by mode",
            ["mode"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        ),
        query_embedding_seconds=Histogram(
            "tutorbook_retriever_query_embedding_duration_seconds",
            "Time to embed one search query",
            registry=registry,
            buckets=LATENCY_BUCKETS,
        ),
        indexed_documents=Gauge("tutorbook_retriever_indexed_documents", "Documents in the index", registry=registry),
        indexed_chunks=Gauge("tutorbook_retriever_indexed_chunks", "Chunks in the index", registry=registry),
        index_version=Gauge(
            "tutorbook_retriever_index_version", "Index version (changes on every change)", registry=registry
        ),
    )
    # At zero from the start (a restarted retriever too), so that "nothing ingested" reads as 0, not as no data.
    for status in get_args(IngestStatus):
        metrics.documents_ingested.labels(status=status)
    return metrics
