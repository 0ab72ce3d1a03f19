"""create_app: wire the gateway's routes, lifespan, clients and error handlers."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from litestar import Litestar

from tutorbook_gateway.adapters.catalog import AdapterCatalog
from tutorbook_gateway.adapters.loading import AdapterLoader
from tutorbook_gateway.adapters.store import FileAdapterStore
from tutorbook_gateway.auth import ApiKeyMiddleware
from tutorbook_gateway.clients.generator import GeneratorClient
from tutorbook_gateway.clients.retriever import RetrieverClient
from tutorbook_gateway.rollout_wiring import open_rollout_control
from tutorbook_gateway.routes.adapters import adapters_router
from tutorbook_gateway.routes.admin import admin_router
from tutorbook_gateway.routes.advisor import advisor_router
from tutorbook_gateway.routes.chat import chat_route
from tutorbook_gateway.routes.documents import documents_router
from tutorbook_gateway.routes.feedback import list_feedback, post_feedback
from tutorbook_gateway.routes.keys import who_am_i
from tutorbook_gateway.routes.models import list_models
from tutorbook_gateway.routes.page import page_router
from tutorbook_gateway.routes.rollouts import rollouts_router
from tutorbook_gateway.services import DEPENDENCIES
from tutorbook_gateway.settings import GatewaySettings
from tutorbook_gateway.wiring import (
    Replacements,
    check_keys,
    open_adapter_admin,
    open_services,
    readiness_probes,
    start_route_example_seeding,
)
from tutorbook_service.errors import error_handlers
from tutorbook_service.json_bodies import JsonBodyRequest
from tutorbook_service.probes import PROBE_ROUTES
from tutorbook_service.request_context import RequestIdMiddleware
from tutorbook_service.tracing import open_tracing, tracing_middleware


async def opened_store(settings: GatewaySettings) -> FileAdapterStore:
    """The adapter store, without what processes killed while writing left behind."""
    store = FileAdapterStore(settings.shared.resolved_adapter_dir())
    await asyncio.to_thread(store.sweep_leftovers)
    return store


def create_app(
    settings: GatewaySettings | None = None,
    retriever: RetrieverClient | None = None,
    generator: GeneratorClient | None = None,
    adapters: AdapterCatalog | None = None,
    loader: AdapterLoader | None = None,
) -> Litestar:
    """Build the gateway. ``retriever``, ``generator``, ``adapters`` (the catalog the router reads) and
    ``loader`` (hot-loading on generator replicas) replace the real ones (tests)."""
    settings = settings or GatewaySettings()
    given = Replacements(retriever, generator, adapters, loader)
    check_keys(settings, calls_upstreams=retriever is None or generator is None)
    tracing = open_tracing("gateway", settings.shared.otlp_traces_url())

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if tracing is not None:
                stack.push_async_callback(asyncio.to_thread, tracing.close)  # last; exporting blocks, off the loop
            store = await opened_store(settings)
            app.state.services = services = await open_services(settings, given, store, stack)
            app.state.adapter_admin = admin = await open_adapter_admin(settings, services, given, store, stack)
            app.state.rollouts = await open_rollout_control(services, store, admin, stack)
            seeder = start_route_example_seeding(services, stack)
            app.state.probes = readiness_probes(settings, services, seeder)
            yield

    return Litestar(
        route_handlers=[
            adapters_router(settings.adapters.max_upload_bytes),
            rollouts_router,
            chat_route(settings.server.chat_max_request_bytes),
            advisor_router(settings.adapters.comparisons_dir or settings.shared.data_dir / "comparisons"),
            admin_router,
            list_models,
            who_am_i,
            documents_router,
            post_feedback,
            list_feedback,
            *PROBE_ROUTES,
            page_router(),
        ],
        lifespan=[lifespan],
        dependencies=DEPENDENCIES,
        exception_handlers=error_handlers(),
        request_class=JsonBodyRequest,
        middleware=[RequestIdMiddleware, *tracing_middleware(tracing), ApiKeyMiddleware],
        logging_config=None,  # each service's main sets up JSON logs; the app must not replace them
        request_max_body_size=settings.server.max_request_bytes,
    )
