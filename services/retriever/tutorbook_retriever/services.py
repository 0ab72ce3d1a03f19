"""What the retriever's handlers work with, built once in the app's lifespan and kept on ``app.state``."""

from dataclasses import dataclass

from tutorbook_retriever.clients.embedder import Embedder
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.clients.version_publisher import VersionPublisher
from tutorbook_retriever.ingestion import IngestLimits
from tutorbook_retriever.metrics import RetrieverMetrics
from tutorbook_retriever.search import SearchOptions
from tutorbook_retriever.sentence_vectors import SentenceVectors
from tutorbook_service.errors import ServiceUnavailableError


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

    def index_changed(self, index_version: int, confirm: bool = False) -> bool:
        """After every change (and at start): publish the version for the gateways, refresh the gauges;
        whether it was published (``confirm``: on the replicas asked for)."""
        published = self.publisher.publish(index_version, confirm)
        self.metrics.index_version.set(index_version)
        self.metrics.indexed_chunks.set(self.store.chunks.count())
        self.metrics.indexed_documents.set(len(self.store.registry.all()))
        return published

    def acknowledge_change(self, index_version: int) -> None:
        """A document change's answer: 503 when its version must reach a Redis replica and did not, since a
        failover could then bring back the version before it, and with it cached answers from before the
        change. The change itself is stored: documents sent again are "unchanged", and their answer
        confirms the version (the script writes it each time)."""
        if not self.index_changed(index_version, confirm=True) and self.publisher.must_replicate:
            raise ServiceUnavailableError(
                "the change is stored, but its index version was not confirmed on a Redis replica in time: "
                "a failover now could bring back cached answers from before it"
            )
