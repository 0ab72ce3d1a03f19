"""create_app: wire the retriever's routes, lifespan, dependencies and error handlers."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio.to_thread
from litestar import Litestar
from litestar.middleware import DefineMiddleware

from tutorbook_config.key_strength import require_strong_keys
from tutorbook_retriever.clients.embedder import Embedder
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.routes.documents import get_document, index_version, ingest, list_documents, remove_document
from tutorbook_retriever.routes.route_examples import count_route_examples, delete_route_examples, put_route_examples
from tutorbook_retriever.routes.search import embed, put_answered_question, search, similarities
from tutorbook_retriever.services import RetrieverServices
from tutorbook_retriever.settings import RetrieverSettings
from tutorbook_retriever.wiring import build_services, open_embedder, open_publisher, open_store
from tutorbook_service.errors import error_handlers
from tutorbook_service.internal_auth import InternalTokenMiddleware
from tutorbook_service.json_bodies import JsonBodyRequest
from tutorbook_service.probes import PROBE_ROUTES, Probes
from tutorbook_service.request_context import RequestIdMiddleware
from tutorbook_service.tracing import open_tracing, tracing_middleware

ROUTES = [
    ingest, list_documents, get_document, remove_document, index_version, search,
    put_route_examples, delete_route_examples, count_route_examples, put_answered_question, embed, similarities,
]  # fmt: skip

log = logging.getLogger("tutorbook.retriever")
REPUBLISH_SECONDS = 1.0


async def republish(services: RetrieverServices) -> None:
    """Publish the version every second too: it heals a publish lost while Redis was away."""
    while True:
        await asyncio.sleep(REPUBLISH_SECONDS)
        version = await anyio.to_thread.run_sync(services.store.registry.index_version)
        await anyio.to_thread.run_sync(services.publisher.publish, version)


async def open_services(
    settings: RetrieverSettings, embedder: Embedder | None, store: Store | None
) -> tuple[RetrieverServices, Callable[[], None] | None]:
    """The embedder, the store and the version publisher (the given ones, or opened), and how to close the
    store; how long each took is logged, so a slow start says which part was slow."""
    started = time.perf_counter()
    live_embedder = embedder or open_embedder(settings)
    embedder_ready = time.perf_counter()
    close_store = None
    if store is None:
        live_store, close_store = await anyio.to_thread.run_sync(open_store, settings, live_embedder.dimension)
    else:
        live_store = store
        live_store.ensure(live_embedder.dimension)
    store_ready = time.perf_counter()
    services = build_services(settings, live_embedder, live_store, open_publisher(settings))
    seconds = {
        "embedder_seconds": round(embedder_ready - started, 2),
        "store_seconds": round(store_ready - embedder_ready, 2),
        "publisher_seconds": round(time.perf_counter() - store_ready, 2),
    }
    log.info("started", extra=seconds)
    return services, close_store


def create_app(
    settings: RetrieverSettings | None = None,
    embedder: Embedder | None = None,
    store: Store | None = None,
) -> Litestar:
    """Build the retriever. ``embedder`` and ``store`` replace the real clients (tests). Refuses a weak
    internal token: the retriever answers only the gateway (and operators) holding it."""
    settings = settings or RetrieverSettings()
    require_strong_keys("TUTORBOOK_INTERNAL_TOKEN", [settings.shared.internal_token])
    tracing = open_tracing("retriever", settings.shared.otlp_traces_url())

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        services, close_store = await open_services(settings, embedder, store)
        live_store = services.store
        services.index_changed(live_store.registry.index_version())
        republishing = asyncio.create_task(republish(services))

        async def store_answers() -> None:
            await anyio.to_thread.run_sync(live_store.registry.index_version)

        app.state.services = services
        app.state.probes = Probes(registry=services.metrics.registry, checks={"qdrant": store_answers})
        try:
            yield
        finally:
            republishing.cancel()
            services.publisher.close()
            if close_store is not None:
                close_store()
            if tracing is not None:
                await asyncio.to_thread(tracing.close)  # exporting what is left blocks: off the event loop

    return Litestar(
        route_handlers=[*ROUTES, *PROBE_ROUTES],
        lifespan=[lifespan],
        exception_handlers=error_handlers(),
        request_class=JsonBodyRequest,
        middleware=[
            RequestIdMiddleware,
            *tracing_middleware(tracing),
            DefineMiddleware(InternalTokenMiddleware, token=settings.shared.internal_token),
        ],
        logging_config=None,  # each service's main sets up JSON logs; the app must not replace them
        request_max_body_size=settings.ingest.max_document_chars * 4 + 1_000_000,
    )
