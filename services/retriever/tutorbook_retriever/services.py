"""What the retriever's handlers work with, built once in the app's lifespan and kept on ``app.state``."""

from dataclasses import dataclass

from tutorbook_retriever.clients.embedder import Embedder
from tutorbook_retriever.ingestion import IngestLimits
from tutorbook_retriever.metrics import RetrieverMetrics
from tutorbook_retriever.search import SearchOptions
from tutorbook_retriever.store import Store


@dataclass(frozen=True)
class RetrieverServices:
    embedder: Embedder
    store: Store
    metrics: RetrieverMetrics
    ingest_limits: IngestLimits
    search_defaults: SearchOptions
    max_top_k: int

    def refresh_index_gauges(self, index_version: int) -> None:
        self.metrics.index_version.set(index_version)
        self.metrics.indexed_chunks.set(self.store.chunks.count())
        self.metrics.indexed_documents.set(len(self.store.registry.all()))
