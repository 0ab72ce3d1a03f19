"""The gateway's parts, built from its settings in the app's lifespan (and from nothing else)."""

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass

import aiohttp

from tutorbook_gateway.adapters.archive import ArchiveLimits
from tutorbook_gateway.adapters.catalog import AdapterCatalog, AdapterHealth
from tutorbook_gateway.adapters.lifecycle import AdapterAdmin
from tutorbook_gateway.adapters.loading import AdapterLoader, VllmAdapterLoader
from tutorbook_gateway.adapters.locking import AdapterLocks
from tutorbook_gateway.adapters.store import FileAdapterStore
from tutorbook_gateway.auth import KeyRing
from tutorbook_gateway.background import BackgroundTasks
from tutorbook_gateway.chat.admission import InFlight
from tutorbook_gateway.chat.answer_cache import AnswerCache, CacheOptions
from tutorbook_gateway.chat.completions import ResponseIds
from tutorbook_gateway.chat.planning import ChatConfig, ChatContext
from tutorbook_gateway.chat.validation import ChatLimits
from tutorbook_gateway.clients.breaker import CircuitBreaker
from tutorbook_gateway.clients.capacity import GenerationSlots, SlotBoundGenerator
from tutorbook_gateway.clients.generator import GeneratorClient, HttpGeneratorClient, generator_session
from tutorbook_gateway.clients.replicas import BalancedGenerator, Replica
from tutorbook_gateway.clients.retriever import HttpRetrieverClient, RetrieverClient, retriever_session
from tutorbook_gateway.clients.upstream import upstream_session
from tutorbook_gateway.metrics import GatewayMetrics, create_gateway_metrics
from tutorbook_gateway.routing import SMALL_TALK
from tutorbook_gateway.services import GatewayServices
from tutorbook_gateway.settings import GatewaySettings
from tutorbook_gateway.small_talk import RouteExampleSeeder, SmallTalkMemory, builtin_route_examples
from tutorbook_gateway.state.index_version import IndexVersionWatch
from tutorbook_gateway.state.store import gateway_state, open_backend
from tutorbook_service.probes import Probes, ReadinessCheck, exposed_registry

TOKEN_FLUSH_SECONDS = 1.0
ADAPTER_LOAD_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class Replacements:
    """Parts tests put in place of the real ones: upstream clients, the adapter catalog, the loader."""

    retriever: RetrieverClient | None = None
    generator: GeneratorClient | None = None
    adapters: AdapterCatalog | None = None
    loader: AdapterLoader | None = None


def breaker(settings: GatewaySettings, service: str) -> CircuitBreaker:
    return CircuitBreaker(service, settings.circuit_breaker_failures, settings.circuit_breaker_open_seconds)


async def open_upstreams(
    settings: GatewaySettings, given: Replacements, stack: AsyncExitStack, metrics: GatewayMetrics
) -> tuple[RetrieverClient, GeneratorClient]:
    token = settings.internal_token
    retriever = given.retriever or HttpRetrieverClient(
        await stack.enter_async_context(
            retriever_session(settings.retriever_url, settings.retriever_timeout_seconds, token)
        ),
        settings.retriever_write_timeout_seconds,
        breaker(settings, "retriever"),
    )
    generator = given.generator or await generator_client(settings, stack, metrics)
    return retriever, SlotBoundGenerator(generator, GenerationSlots(settings.generator_capacity()))


async def generator_client(
    settings: GatewaySettings, stack: AsyncExitStack, metrics: GatewayMetrics
) -> GeneratorClient:
    """One generator, or several replicas balanced here when more than one URL is configured."""

    async def one(url: str) -> HttpGeneratorClient:
        session = generator_session(url, settings.upstream_timeout_seconds, settings.internal_token)
        return HttpGeneratorClient(await stack.enter_async_context(session), breaker(settings, "generator"))

    urls = settings.chat_replica_urls()
    if len(urls) == 1:
        return await one(urls[0])
    replicas = [Replica(url, await one(url)) for url in urls]

    def skipped(url: str, reason: str) -> None:
        metrics.generator_replica_skips.labels(replica=url, reason=reason).inc()

    return BalancedGenerator(replicas, settings.generator_replica_down_seconds, skipped)


def chat_config(settings: GatewaySettings) -> ChatConfig:
    return ChatConfig(
        policy=settings.route_policy(),
        limits=ChatLimits(settings.max_tokens_limit, settings.max_message_chars, settings.max_request_chars),
        rag_top_k=settings.rag_top_k,
        rag_context_max_chars=settings.rag_context_max_chars,
        default_temperature=settings.default_temperature,
        default_max_tokens=settings.default_max_tokens,
        claim_check=settings.claim_check(),
        rag_reader=settings.rag_reader_adapter or None,
        rag_repetition_penalty=settings.rag_repetition_penalty,
        rag_frequency_penalty=settings.rag_frequency_penalty,
    )


async def open_services(
    settings: GatewaySettings, given: Replacements, store: FileAdapterStore, stack: AsyncExitStack
) -> GatewayServices:
    """Clients, state and the chat path's parts; everything opened is closed by ``stack``."""
    metrics = create_gateway_metrics()
    retriever, generator = await open_upstreams(settings, given, stack, metrics)
    backend = open_backend(settings)
    stack.push_async_callback(backend.close)
    background = BackgroundTasks()
    stack.push_async_callback(background.drain)
    adapters = given.adapters or store
    small_talk = SmallTalkMemory(settings.small_talk_memory_entries, builtin_route_examples()[SMALL_TALK])
    chat = ChatContext(chat_config(settings), retriever, generator, adapters, AdapterHealth(), small_talk)
    state = gateway_state(settings, backend, metrics.state_errors.labels(component="rate_limits").inc)
    flushing = asyncio.create_task(state.limiter.flush_every(TOKEN_FLUSH_SECONDS))
    stack.callback(flushing.cancel)
    semantic = settings.semantic_cache_min_similarity if settings.semantic_cache_enabled else None
    cache_options = CacheOptions(
        semantic, settings.cache_ttl_seconds, settings.cache_local_entries, settings.cache_scope == "key"
    )
    index_version = IndexVersionWatch(backend)
    following = asyncio.create_task(index_version.run())
    stack.callback(following.cancel)
    return GatewayServices(
        keys=KeyRing(api_keys=settings.api_key_set(), admin_keys=settings.admin_key_set()),
        chat=chat,
        answers=AnswerCache(state.cache, cache_options, index_version, chat.config, retriever, metrics, background),
        response_ids=ResponseIds(settings.response_id_key()),
        metrics=metrics,
        state=state,
        background=background,
        in_flight=InFlight(settings.max_in_flight_per_key),
    )


async def open_adapter_admin(
    settings: GatewaySettings,
    services: GatewayServices,
    given: Replacements,
    store: FileAdapterStore,
    stack: AsyncExitStack,
) -> AdapterAdmin:
    loader = given.loader or VllmAdapterLoader(
        await stack.enter_async_context(
            upstream_session(None, aiohttp.ClientTimeout(total=ADAPTER_LOAD_TIMEOUT_SECONDS), settings.internal_token)
        ),
        settings.replica_urls(),
        settings.generator_dns,
        settings.generator_dns_port,
    )
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
        retriever=services.chat.retriever,
        health=services.chat.health,
        metrics=services.metrics,
        background=services.background,
        require_eval_win=settings.adapter_require_eval_win,
        unload_grace_seconds=settings.adapter_unload_grace_seconds,
        locks=AdapterLocks(services.state.backend),
    )


def start_route_example_seeding(services: GatewayServices, stack: AsyncExitStack) -> RouteExampleSeeder:
    """The router's own example sets and the active adapters' route examples, stored again at start (the
    retriever's index may be new); the gateway is ready once they are."""
    active = services.chat.adapters.active()
    adapter_examples = {name: adapter.card.route_examples for name, adapter in active.items()}
    seeder = RouteExampleSeeder(services.chat.retriever, {**builtin_route_examples(), **adapter_examples})
    seeding = asyncio.create_task(seeder.run())
    stack.callback(seeding.cancel)
    return seeder


def readiness_probes(settings: GatewaySettings, services: GatewayServices, seeder: RouteExampleSeeder) -> Probes:
    checks: dict[str, ReadinessCheck] = {
        "retriever": services.chat.retriever.ping,
        "generator": services.chat.generator.ping,
        "route_examples": seeder.check,
    }
    if settings.redis_url:
        checks["redis"] = services.state.backend.ping
    return Probes(registry=exposed_registry(services.metrics.registry), checks=checks)
