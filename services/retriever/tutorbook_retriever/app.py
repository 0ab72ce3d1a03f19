"""create_app: wire the retriever's routes, lifespan, dependencies and error handlers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from litestar import Litestar

from tutorbook_common.errors import error_handlers
from tutorbook_common.probes import PROBE_ROUTES, Probes
from tutorbook_retriever.clients.embedder import Embedder, SentenceTransformerEmbedder, default_embedding_model_path
from tutorbook_retriever.clients.vector_store import QdrantVectorStore, VectorStore, open_qdrant_client
from tutorbook_retriever.ingestion import IngestLimits
from tutorbook_retriever.metrics import create_retriever_metrics
from tutorbook_retriever.routes.documents import ingest
from tutorbook_retriever.routes.search import search
from tutorbook_retriever.services import RetrieverServices
from tutorbook_retriever.settings import RetrieverSettings


def open_embedder(settings: RetrieverSettings) -> Embedder:
    model = settings.embedding_model or default_embedding_model_path()
    return SentenceTransformerEmbedder(model, device=settings.embedding_device)


def open_store(settings: RetrieverSettings) -> QdrantVectorStore:
    client = open_qdrant_client(settings.qdrant_url, settings.qdrant_api_key, settings.resolved_qdrant_path())
    return QdrantVectorStore(client, settings.collection, server=bool(settings.qdrant_url))


def create_app(
    settings: RetrieverSettings | None = None,
    embedder: Embedder | None = None,
    store: VectorStore | None = None,
) -> Litestar:
    """Build the retriever. ``embedder`` and ``store`` replace the real clients (unit tests only)."""
    settings = settings or RetrieverSettings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        live_embedder = embedder or open_embedder(settings)
        owned_store = None if store is not None else open_store(settings)
        live_store: VectorStore = store if store is not None else owned_store  # type: ignore[assignment]
        live_store.ensure_collection(live_embedder.dimension)
        metrics = create_retriever_metrics()
        metrics.indexed_chunks.set(live_store.count())

        async def store_answers() -> None:
            await anyio.to_thread.run_sync(live_store.count)

        app.state.services = RetrieverServices(
            embedder=live_embedder,
            store=live_store,
            metrics=metrics,
            ingest_limits=IngestLimits(
                max_documents=settings.max_documents_per_request,
                max_document_chars=settings.max_document_chars,
                chunk_max_chars=settings.chunk_max_chars,
            ),
            max_top_k=settings.max_top_k,
        )
        app.state.probes = Probes(registry=metrics.registry, checks={"qdrant": store_answers})
        try:
            yield
        finally:
            if owned_store is not None:
                owned_store.close()

    return Litestar(
        route_handlers=[ingest, search, *PROBE_ROUTES],
        lifespan=[lifespan],
        exception_handlers=error_handlers(),
        request_max_body_size=settings.max_document_chars * 4 + 1_000_000,
    )
