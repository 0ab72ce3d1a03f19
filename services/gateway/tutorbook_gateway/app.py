"""create_app: wire the gateway's routes, lifespan, clients and error handlers."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp
from litestar import Litestar

from tutorbook_common.errors import error_handlers
from tutorbook_common.probes import PROBE_ROUTES, Probes, ReadinessCheck, exposed_registry
from tutorbook_common.request_context import RequestIdMiddleware
from tutorbook_gateway.adapters.archive import ArchiveLimits
from tutorbook_gateway.adapters.catalog import AdapterCatalog, AdapterHealth
from tutorbook_gateway.adapters.lifecycle import AdapterAdmin
from tutorbook_gateway.adapters.loading import AdapterLoader, VllmAdapterLoader
from tutorbook_gateway.adapters.store import FileAdapterStore
from tutorbook_gateway.auth import KeyRing
from tutorbook_gateway.background import BackgroundTasks
from tutorbook_gateway.chat import ChatConfig, ChatContext
from tutorbook_gateway.clients.generator import GeneratorClient, HttpGeneratorClient, generator_session
from tutorbook_gateway.clients.retriever import HttpRetrieverClient, RetrieverClient, retriever_session
from tutorbook_gateway.metrics import GatewayMetrics, create_gateway_metrics
from tutorbook_gateway.routes.adapters import adapters_router
from tutorbook_gateway.routes.chat import chat_completions
from tutorbook_gateway.routes.documents import documents_router
from tutorbook_gateway.routes.feedback import list_feedback, post_feedback
from tutorbook_gateway.routes.models import list_models
from tutorbook_gateway.routing import RoutePolicy
from tutorbook_gateway.services import GatewayServices
from tutorbook_gateway.settings import GatewaySettings
from tutorbook_gateway.small_talk import RouteExampleSeeder, builtin_route_examples
from tutorbook_gateway.state.store import gateway_state, open_backend

TOKEN_FLUSH_SECONDS = 1.0


def adapter_admin(
    settings: GatewaySettings,
    store: FileAdapterStore,
    loader: AdapterLoader,
    retriever: RetrieverClient,
    health: AdapterHealth,
    metrics: GatewayMetrics,
    background: BackgroundTasks,
) -> AdapterAdmin:
    limits = ArchiveLimits(
        max_archive_bytes=settings.adapter_max_upload_bytes,
        max_member_bytes=settings.adapter_max_unpacked_bytes,
        max_total_bytes=settings.adapter_max_unpacked_bytes,
    )
    return AdapterAdmin(
        store=store,
        limits=limits,
        base_config=settings.resolved_base_model_config(),
        max_rank=settings.max_lora_rank,
        base_model=settings.base_model_name,
        generator_adapter_dir=settings.generator_adapter_dir or store.root,
        loader=loader,
        retriever=retriever,
        health=health,
        metrics=metrics,
        background=background,
        require_eval_win=settings.adapter_require_eval_win,
        unload_grace_seconds=settings.adapter_unload_grace_seconds,
    )


def active_route_examples(catalog: AdapterCatalog) -> dict[str, list[str]]:
    """The active adapters' route examples, stored again at start (the retriever's index may be new)."""
    return {name: adapter.card.route_examples for name, adapter in catalog.active().items()}


def route_policy(settings: GatewaySettings) -> RoutePolicy:
    return RoutePolicy(
        base_model=settings.base_model_name,
        rag_min_score=settings.rag_min_score,
        rag_agreement_band=settings.rag_agreement_band,
        adapter_min_score=settings.adapter_min_score,
        adapter_margin=settings.adapter_margin,
        prompt_min_score=settings.prompt_min_score,
        prompt_margin=settings.prompt_margin,
        off_topic_margin=settings.off_topic_margin,
        max_adapter_errors=settings.max_adapter_errors,
    )


def chat_config(settings: GatewaySettings) -> ChatConfig:
    return ChatConfig(
        policy=route_policy(settings),
        rag_top_k=settings.rag_top_k,
        rag_context_max_chars=settings.rag_context_max_chars,
        default_temperature=settings.default_temperature,
        default_max_tokens=settings.default_max_tokens,
    )


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

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            live_retriever = retriever or HttpRetrieverClient(
                await stack.enter_async_context(
                    retriever_session(settings.retriever_url, settings.retriever_timeout_seconds)
                )
            )
            live_generator = generator or HttpGeneratorClient(
                await stack.enter_async_context(
                    generator_session(settings.generator_url, settings.upstream_timeout_seconds)
                )
            )
            metrics = create_gateway_metrics()
            backend = open_backend(settings)
            stack.push_async_callback(backend.close)
            background = BackgroundTasks()
            stack.push_async_callback(background.drain)
            store = FileAdapterStore(settings.resolved_adapter_dir())
            health = AdapterHealth()
            chat = ChatContext(
                config=chat_config(settings),
                retriever=live_retriever,
                generator=live_generator,
                adapters=adapters or store,
                health=health,
            )
            state = gateway_state(settings, backend)
            app.state.services = GatewayServices(
                keys=KeyRing(api_keys=settings.api_key_set(), admin_keys=settings.admin_key_set()),
                chat=chat,
                metrics=metrics,
                state=state,
                background=background,
            )
            flushing = asyncio.create_task(state.limiter.flush_every(TOKEN_FLUSH_SECONDS))
            stack.callback(flushing.cancel)
            live_loader = loader or VllmAdapterLoader(
                await stack.enter_async_context(aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))),
                settings.replica_urls(),
                settings.generator_dns,
                settings.generator_dns_port,
            )
            app.state.adapter_admin = adapter_admin(
                settings, store, live_loader, live_retriever, health, metrics, background
            )
            examples = {**builtin_route_examples(), **active_route_examples(chat.adapters)}
            seeder = RouteExampleSeeder(live_retriever, examples)
            seeding = asyncio.create_task(seeder.run())
            stack.callback(seeding.cancel)
            checks: dict[str, ReadinessCheck] = {
                "retriever": live_retriever.ping,
                "generator": live_generator.ping,
                "route_examples": seeder.check,
            }
            if settings.redis_url:
                checks["redis"] = backend.ping
            app.state.probes = Probes(registry=exposed_registry(metrics.registry), checks=checks)
            yield

    return Litestar(
        route_handlers=[
            adapters_router,
            chat_completions,
            list_models,
            documents_router,
            post_feedback,
            list_feedback,
            *PROBE_ROUTES,
        ],
        lifespan=[lifespan],
        exception_handlers=error_handlers(),
        middleware=[RequestIdMiddleware],
        logging_config=None,  # each service's main sets up JSON logs; the app must not replace them
        request_max_body_size=settings.max_request_bytes,
    )
