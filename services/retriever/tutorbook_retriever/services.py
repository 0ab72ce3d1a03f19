"""What the retriever's handlers work with, built once in the app's lifespan and kept on ``app.state``."""

from dataclasses import dataclass

from tutorbook_retriever.clients.embedder import Embedder
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.clients.version_publisher import VersionPublisher
from tutorbook_retriever.ingestion import IngestLimits
from tutorbook_retriever.metrics import RetrieverMetrics
from tutorbook_retriever.search import SearchOptions
from tutorbook_retriever.sentence_vectors import SentenceVectors


@dataclass(frozen=True)
class RetrieverServices:
    embedder: Embedder
    embedder_name: str  # what an embedding classifier's file must name
    store: Store
    metrics: RetrieverMetrics
    ingest_limits: IngestLimits
    search_defaults: SearchOptions
    max_top_k: int
    publisher: VersionPublisher
    sentence_vectors: SentenceVectors  # the claim check's passage sentences, kept between requests

    def index_changed(self, index_version: int) -> None:
        """After every change (and at start): publish the version for the gateways, refresh the gauges."""
        self.publisher.publish(index_version)
        self.metrics.index_version.set(index_version)
        self.metrics.indexed_chunks.set(self.store.chunks.count())
        self.metrics.indexed_documents.set(len(self.store.registry.all()))
