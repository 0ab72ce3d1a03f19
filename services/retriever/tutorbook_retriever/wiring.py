"""The retriever's parts built from its settings: the embedder, the Qdrant-backed store, the search
defaults, the index-version publisher and the services the handlers work with.

``create_app`` assembles them for the service; the evaluation and benchmark tools build the same parts
in-process, so they search exactly as the service does.
"""

from collections.abc import Callable
from pathlib import Path

from tutorbook_retriever.clients.chunk_index import QdrantChunkIndex
from tutorbook_retriever.clients.document_registry import QdrantDocumentRegistry
from tutorbook_retriever.clients.edge.chunks import EdgeChunkIndex
from tutorbook_retriever.clients.edge.migration import migrate_local_mode
from tutorbook_retriever.clients.edge.questions import EdgeQuestionIndex
from tutorbook_retriever.clients.edge.registry import EdgeDocumentRegistry
from tutorbook_retriever.clients.edge.routes import EdgeRouteIndex
from tutorbook_retriever.clients.edge.shards import EdgeShards
from tutorbook_retriever.clients.embedder import Embedder, SentenceTransformerEmbedder, default_embedding_model_path
from tutorbook_retriever.clients.onnx_embedder import OnnxEmbedder
from tutorbook_retriever.clients.qdrant import QdrantHandle, open_qdrant
from tutorbook_retriever.clients.question_index import QdrantQuestionIndex
from tutorbook_retriever.clients.route_index import QdrantRouteIndex
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.clients.version_publisher import NoPublisher, RedisVersionPublisher, VersionPublisher
from tutorbook_retriever.ingestion import IngestLimits
from tutorbook_retriever.metrics import create_retriever_metrics
from tutorbook_retriever.search import SearchOptions
from tutorbook_retriever.sentence_vectors import SentenceVectors
from tutorbook_retriever.services import RetrieverServices
from tutorbook_retriever.settings import RetrieverSettings


def open_embedder(settings: RetrieverSettings) -> Embedder:
    embedding = settings.embedding
    model = embedding.model or default_embedding_model_path()
    if embedding.backend == "onnx" and embedding.device == "cpu":
        cache = onnx_cache_dir(settings)
        return OnnxEmbedder(model, cache, threads=embedding.threads, precision=embedding.precision)
    return SentenceTransformerEmbedder(model, device=embedding.device)


def onnx_cache_dir(settings: RetrieverSettings) -> Path:
    """Where the ONNX export of the embedder is kept (made once, on the first start)."""
    return settings.shared.resolved_model_cache_dir() / "onnx"


def qdrant_store(qdrant: QdrantHandle, prefix: str, max_answered_questions: int) -> Store:
    return Store(
        chunks=QdrantChunkIndex(qdrant, f"{prefix}_chunks"),
        registry=QdrantDocumentRegistry(qdrant, f"{prefix}_documents"),
        routes=QdrantRouteIndex(qdrant, f"{prefix}_route_examples"),
        questions=QdrantQuestionIndex(qdrant, f"{prefix}_answered_questions", max_answered_questions),
    )


def edge_store(shards: EdgeShards, prefix: str, max_answered_questions: int) -> Store:
    return Store(
        chunks=EdgeChunkIndex(shards, f"{prefix}_chunks"),
        registry=EdgeDocumentRegistry(shards, f"{prefix}_documents"),
        routes=EdgeRouteIndex(shards, f"{prefix}_route_examples"),
        questions=EdgeQuestionIndex(shards, f"{prefix}_answered_questions", max_answered_questions),
    )


def open_store(settings: RetrieverSettings, dimension: int) -> tuple[Store, Callable[[], None]]:
    """A Qdrant server when TUTORBOOK_RETRIEVER_STORE__QDRANT_URL is set; otherwise Qdrant Edge in this process (a data
    folder of the earlier embedded backend is migrated to it first), or that earlier backend itself when
    asked for (benchmarks). Returns the store and its closer."""
    config, data_dir = settings.store, settings.shared.data_dir
    if config.qdrant_url or config.embedded == "local":
        qdrant = open_qdrant(config.qdrant_url, config.qdrant_api_key, config.resolved_qdrant_path(data_dir))
        store = qdrant_store(qdrant, config.collection_prefix, config.max_answered_questions)
        store.ensure(dimension)
        return store, qdrant.close

    def open_edge(root: Path) -> tuple[Store, Callable[[], None]]:
        shards = EdgeShards(root, config.graph_after_chunks)
        store = edge_store(shards, config.collection_prefix, config.max_answered_questions)
        store.ensure(dimension)
        return store, shards.close

    root = config.resolved_edge_path(data_dir)
    migrate_local_mode(config.resolved_qdrant_path(data_dir), root, config.collection_prefix, open_edge)
    return open_edge(root)


def search_defaults(settings: RetrieverSettings) -> SearchOptions:
    return SearchOptions(
        candidates=settings.search.candidates,
        fusion=settings.search.fusion,
        dense_weight=settings.search.dense_weight,
        rrf_k=settings.search.rrf_k,
    )


def ingest_limits(settings: RetrieverSettings, max_documents: int | None = None) -> IngestLimits:
    """How documents are chunked and bounded; ``max_documents`` per batch overrides the setting (tools)."""
    ingest = settings.ingest
    return IngestLimits(
        max_documents=max_documents or ingest.max_documents_per_request,
        max_document_chars=ingest.max_document_chars,
        chunk_max_tokens=ingest.chunk_max_tokens,
        chunk_overlap_tokens=ingest.chunk_overlap_tokens,
    )


def open_publisher(settings: RetrieverSettings) -> VersionPublisher:
    redis = settings.shared.redis_target()
    if not redis.configured:
        return NoPublisher()
    return RedisVersionPublisher(redis, replicas=settings.ingest.version_replicas)


def build_services(
    settings: RetrieverSettings, embedder: Embedder, store: Store, publisher: VersionPublisher | None = None
) -> RetrieverServices:
    return RetrieverServices(
        embedder=embedder,
        embedder_name=settings.embedding.embedder_name(),
        store=store,
        metrics=create_retriever_metrics(),
        ingest_limits=ingest_limits(settings),
        search_defaults=search_defaults(settings),
        max_top_k=settings.search.max_top_k,
        publisher=publisher or NoPublisher(),
        sentence_vectors=SentenceVectors(settings.embedding.similarity_cache_sentences),
    )
