"""What the retriever's handlers work with, built once in the app's lifespan and kept on ``app.state``."""

from dataclasses import dataclass

from tutorbook_retriever.clients.embedder import Embedder
from tutorbook_retriever.clients.vector_store import VectorStore
from tutorbook_retriever.ingestion import IngestLimits
from tutorbook_retriever.metrics import RetrieverMetrics


@dataclass(frozen=True)
class RetrieverServices:
    embedder: Embedder
    store: VectorStore
    metrics: RetrieverMetrics
    ingest_limits: IngestLimits
    max_top_k: int
