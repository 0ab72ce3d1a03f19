"""The gateway's parts, built from its settings in the app's lifespan (and from nothing else)."""

import asyncio
import dataclasses
import hashlib
import secrets
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from functools import partial

import aiohttp

from tutorbook_config.key_strength import require_strong_keys
from tutorbook_config.local_keys import split_keys
from tutorbook_config.shared import BASE_MODEL_CONFIG
from tutorbook_config.variables import group_variable, shared_variable
from tutorbook_gateway.access.directory import NO_LIMITS, KeyDirectory
from tutorbook_gateway.access.opening import open_access
from tutorbook_gateway.adapters.archive import ArchiveLimits
from tutorbook_gateway.adapters.catalog import AdapterCatalog, AdapterHealth
from tutorbook_gateway.adapters.lifecycle import AdapterAdmin
from tutorbook_gateway.adapters.loading import AdapterLoader, VllmAdapterLoader
from tutorbook_gateway.adapters.locking import AdapterLocks
from tutorbook_gateway.adapters.store import FileAdapterStore
from tutorbook_gateway.background import BackgroundTasks
from tutorbook_gateway.chat.admission import InFlight
from tutorbook_gateway.chat.answer_cache import AnswerCache, CacheOptions
from tutorbook_gateway.chat.answering import ChatSteps
from tutorbook_gateway.chat.completions import ResponseIds
from tutorbook_gateway.chat.config import AnswerConfig, ChatConfig, ChatLimits, ClaimCheckConfig, JudgeConfig
from tutorbook_gateway.chat.generation import GenerationParts
from tutorbook_gateway.chat.planning import Planner, SmallTalkMemory
from tutorbook_gateway.chat.recording import Keeping
from tutorbook_gateway.clients.breaker import CircuitBreaker
from tutorbook_gateway.clients.capacity import Capacity, GenerationSlots, SlotBoundGenerator
from tutorbook_gateway.clients.generator import GeneratorClient, HttpGeneratorClient, generator_session
from tutorbook_gateway.clients.replicas import BalancedGenerator, Replica
from tutorbook_gateway.clients.retriever import HttpRetrieverClient, RetrieverClient, retriever_session
from tutorbook_gateway.clients.upstream import upstream_session
from tutorbook_gateway.metrics import GatewayMetrics, create_gateway_metrics
from tutorbook_gateway.rollout_wiring import rollout_tracker
from tutorbook_gateway.route_examples import RouteExampleSeeder, builtin_route_examples
from tutorbook_gateway.routing import SMALL_TALK, RoutePolicy
from tutorbook_gateway.services import GatewayServices
from tutorbook_gateway.settings import CacheSettings, ClaimSettings, GatewaySettings, KeySettings, UpstreamSettings
from tutorbook_gateway.state.backend import StateBackend
from tutorbook_gateway.state.budget import StateBudget
from tutorbook_gateway.state.cache import ResponseCache
from tutorbook_gateway.state.conversations import Conversations
from tutorbook_gateway.state.degrading import DegradingCache, DegradingClaimsOutcomes, DegradingConversations
from tutorbook_gateway.state.feedback import FeedbackStore
from tutorbook_gateway.state.index_version import IndexVersionWatch
from tutorbook_gateway.state.rate_limits import Limits, RateLimiter, parse_overrides
from tutorbook_gateway.state.store import GatewayState, open_backend
from tutorbook_grounding.policy import ClaimsPolicy
from tutorbook_grounding.support import SupportThresholds
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
    upstreams = settings.upstreams
    return CircuitBreaker(service, upstreams.circuit_breaker_failures, upstreams.circuit_breaker_open_seconds)


def route_policy(settings: GatewaySettings) -> RoutePolicy:
    """The router's thresholds, as the pure decision function takes them."""
    router = settings.router
    return RoutePolicy(
        base_model=settings.shared.base_model_name,
        rag_min_score=router.rag_min_score,
        rag_agreement_band=router.rag_agreement_band,
        adapter_min_score=router.adapter_min_score,
        adapter_margin=router.adapter_margin,
        prompt_min_score=router.prompt_min_score,
        prompt_margin=router.prompt_margin,
        off_topic_margin=router.off_topic_margin,
        max_adapter_errors=router.max_adapter_errors,
        reader=settings.answers.reader_adapter or None,
    )


def claim_check_config(claims: ClaimSettings) -> ClaimCheckConfig:
    return ClaimCheckConfig(
        policy=ClaimsPolicy(claims.policy),
        thresholds=SupportThresholds(claims.min_similarity, claims.min_overlap),
        max_answer_sentences=claims.max_answer_sentences,
        max_candidates=claims.max_candidates,
        judge=JudgeConfig(
            claims.judge_model.strip(), claims.judge_min_probability, timeout_seconds=claims.judge_timeout_seconds
        ),
    )


def explicit_replicas(upstreams: UpstreamSettings) -> list[str]:
    return [url.strip() for url in upstreams.generator_replicas.split(",") if url.strip()]


def chat_replica_urls(upstreams: UpstreamSettings) -> list[str]:
    """Where chat goes: the explicit replicas when there are two or more, else the generator URL."""
    explicit = explicit_replicas(upstreams)
    return explicit if len(explicit) > 1 else [upstreams.generator_url]


def replica_urls(upstreams: UpstreamSettings) -> list[str]:
    """Where adapters are loaded: explicit replicas; else none when DNS names them all; else the generator."""
    return explicit_replicas(upstreams) or ([] if upstreams.generator_dns else [upstreams.generator_url])


def check_keys(settings: GatewaySettings, calls_upstreams: bool) -> None:
    """Refuse weak keys (raises :class:`~tutorbook_config.key_strength.WeakKeyError`)."""
    keys = settings.keys
    require_strong_keys(group_variable("gateway", "keys", "api_keys"), sorted(split_keys(keys.api_keys)))
    require_strong_keys(group_variable("gateway", "keys", "admin_keys"), sorted(split_keys(keys.admin_keys)))
    if calls_upstreams:
        require_strong_keys(shared_variable("internal_token"), [settings.shared.internal_token])


def response_id_key(keys: KeySettings) -> bytes:
    """The key response ids are signed with: the secret, else one derived from the configured keys."""
    if keys.response_id_secret:
        return keys.response_id_secret.encode()
    configured = sorted(split_keys(keys.admin_keys)) or sorted(split_keys(keys.api_keys))
    if not configured:
        return secrets.token_bytes(32)  # no key can call the gateway anyway
    return hashlib.sha256(b"tutorbook response ids\0" + "\0".join(configured).encode()).digest()


def gateway_state(
    settings: GatewaySettings, backend: StateBackend, on_limiter_error: Callable[[], None], keys: KeyDirectory
) -> GatewayState:
    state, cache, limits = settings.state, settings.cache, settings.limits
    return GatewayState(
        backend=backend,
        conversations=Conversations(
            backend,
            state.session_ttl_seconds,
            state.session_max_turns,
            state.session_max_tokens,
            state.session_max_turn_chars,
        ),
        cache=ResponseCache(backend, cache.ttl_seconds) if cache.enabled else None,
        limiter=RateLimiter(
            backend,
            Limits(limits.requests_per_minute, limits.tokens_per_minute),
            parse_overrides(limits.overrides),
            limits.fail_open,
            limits.lease_seconds,
            on_limiter_error,
            partial(own_rate_limits, keys, Limits(limits.requests_per_minute, limits.tokens_per_minute)),
        ),
        feedback=FeedbackStore(backend, state.feedback_ttl_seconds) if state.feedback_enabled else None,
        feedback_ttl_seconds=state.feedback_ttl_seconds,
        budget=state_budget(settings, backend, keys),
    )


async def open_upstreams(
    settings: GatewaySettings, given: Replacements, stack: AsyncExitStack, metrics: GatewayMetrics
) -> tuple[RetrieverClient, GeneratorClient]:
    token, upstreams = settings.shared.internal_token, settings.upstreams
    retriever = given.retriever or HttpRetrieverClient(
        await stack.enter_async_context(
            retriever_session(upstreams.retriever_url, upstreams.retriever_timeout_seconds, token)
        ),
        upstreams.retriever_write_timeout_seconds,
        breaker(settings, "retriever"),
    )
    generator = given.generator or await generator_client(settings, stack, metrics)
    capacity = Capacity(
        upstreams.generator_max_in_flight, upstreams.generator_max_waiting, upstreams.generator_max_wait_seconds
    )
    return retriever, SlotBoundGenerator(generator, GenerationSlots(capacity))


async def generator_client(
    settings: GatewaySettings, stack: AsyncExitStack, metrics: GatewayMetrics
) -> GeneratorClient:
    """One generator, or several replicas balanced here when more than one URL is configured."""

    async def one(url: str) -> HttpGeneratorClient:
        session = generator_session(url, settings.upstreams.generator_timeout_seconds, settings.shared.internal_token)
        return HttpGeneratorClient(await stack.enter_async_context(session), breaker(settings, "generator"))

    urls = chat_replica_urls(settings.upstreams)
    if len(urls) == 1:
        return await one(urls[0])
    replicas = [Replica(url, await one(url)) for url in urls]

    def skipped(url: str, reason: str) -> None:
        metrics.generator_replica_skips.labels(replica=url, reason=reason).inc()

    return BalancedGenerator(replicas, settings.upstreams.generator_replica_down_seconds, skipped)


def chat_config(settings: GatewaySettings) -> ChatConfig:
    limits, answers = settings.limits, settings.answers
    return ChatConfig(
        policy=route_policy(settings),
        limits=ChatLimits(
            limits.max_tokens, limits.max_message_chars, limits.max_request_chars, limits.max_classified_chars
        ),
        answers=AnswerConfig(
            top_k=answers.top_k,
            context_max_chars=answers.context_max_chars,
            default_temperature=answers.default_temperature,
            default_max_tokens=answers.default_max_tokens,
            repetition_penalty=answers.repetition_penalty,
            frequency_penalty=answers.frequency_penalty,
        ),
        claim_check=claim_check_config(settings.claims),
    )


def cache_options(cache: CacheSettings) -> CacheOptions:
    semantic = cache.semantic_min_similarity if cache.semantic_enabled else None
    return CacheOptions(semantic, cache.ttl_seconds, cache.local_entries, cache.scope == "key")


def state_budget(settings: GatewaySettings, backend: StateBackend, keys: KeyDirectory) -> StateBudget:
    """The bytes budgets: the default per key, a runtime key's own, its team's."""
    state = settings.state

    def team_bytes(team: str) -> int:
        record = keys.teams.get(team)
        return 0 if record is None else record.state_bytes

    def own_bytes(owner: str) -> int:
        return (keys.limits_of(owner) or NO_LIMITS).state_bytes

    return StateBudget(backend, state.key_state_bytes, state.state_budget_window_seconds, own_bytes, team_bytes)


def own_rate_limits(keys: KeyDirectory, default: Limits, owner: str) -> Limits | None:
    """A runtime key's own rates, each falling back to the default where its record says 0."""
    own = keys.limits_of(owner)
    if own is None:
        return None
    return Limits(
        own.requests_per_minute or default.requests_per_minute, own.tokens_per_minute or default.tokens_per_minute
    )


def chat_steps(
    settings: GatewaySettings, config: ChatConfig, clients: tuple[RetrieverClient, GeneratorClient],
    adapters: AdapterCatalog, state: GatewayState, answers: AnswerCache, metrics: GatewayMetrics, keys: KeyDirectory,
) -> ChatSteps:  # fmt: skip
    retriever, generator = clients
    health = AdapterHealth()
    small_talk = SmallTalkMemory(settings.router.small_talk_memory_entries, builtin_route_examples()[SMALL_TALK])
    return ChatSteps(
        config=config,
        adapters=adapters,
        health=health,
        limiter=state.limiter,
        in_flight=InFlight(
            settings.limits.max_in_flight_per_key, lambda owner: (keys.limits_of(owner) or NO_LIMITS).in_flight
        ),
        planner=Planner(config, retriever, small_talk, metrics),
        answers=answers,
        generating=GenerationParts(generator, retriever, adapters, health, config.claim_check),
        keeping=Keeping(
            DegradingConversations(state.conversations, metrics),
            answers,
            DegradingClaimsOutcomes(state.feedback, metrics) if state.feedback else None,
            state.budget,
            state.feedback_ttl_seconds,
        ),
        response_ids=ResponseIds(response_id_key(settings.keys)),
        metrics=metrics,
    )


async def open_services(
    settings: GatewaySettings, given: Replacements, store: FileAdapterStore, stack: AsyncExitStack
) -> GatewayServices:
    """Clients, state and the chat path's parts; everything opened is closed by ``stack``."""
    metrics = create_gateway_metrics()
    retriever, generator = await open_upstreams(settings, given, stack, metrics)
    state_settings = settings.state
    backend = open_backend(
        settings.shared.redis_target(), state_settings.redis_timeout_seconds, state_settings.memory_max_bytes
    )
    stack.push_async_callback(backend.close)
    background = BackgroundTasks()
    stack.push_async_callback(background.drain)
    access = await open_access(settings.keys, settings.shared.redis_target(), stack)
    state = gateway_state(settings, backend, metrics.state_errors.labels(component="rate_limits").inc, access.directory)
    flushing = asyncio.create_task(state.limiter.flush_every(TOKEN_FLUSH_SECONDS))
    stack.callback(flushing.cancel)
    index_version = IndexVersionWatch(backend)
    following = asyncio.create_task(index_version.run())
    stack.callback(following.cancel)
    options, config = cache_options(settings.cache), chat_config(settings)
    cache = DegradingCache(state.cache, metrics) if state.cache else None
    answers = AnswerCache(cache, options, index_version, config, retriever, metrics, background)
    adapters = given.adapters or store
    chat = chat_steps(settings, config, (retriever, generator), adapters, state, answers, metrics, access.directory)
    tracker = rollout_tracker(settings.adapters, chat, backend, store.card, background, stack)
    chat = dataclasses.replace(chat, rollouts=tracker)
    return GatewayServices(
        access=access,
        chat=chat,
        retriever=retriever,
        generator=generator,
        state=state,
        response_ids=chat.response_ids,
        metrics=metrics,
        background=background,
        rollouts=tracker,
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
            upstream_session(
                None, aiohttp.ClientTimeout(total=ADAPTER_LOAD_TIMEOUT_SECONDS), settings.shared.internal_token
            )
        ),
        replica_urls(settings.upstreams),
        settings.upstreams.generator_dns,
        settings.upstreams.generator_dns_port,
    )
    adapters = settings.adapters
    limits = ArchiveLimits(
        max_archive_bytes=adapters.max_upload_bytes,
        max_member_bytes=adapters.max_unpacked_bytes,
        max_total_bytes=adapters.max_unpacked_bytes,
    )
    return AdapterAdmin(
        store=store,
        limits=limits,
        base_config=adapters.base_model_config or store.root / BASE_MODEL_CONFIG,
        max_rank=settings.shared.max_lora_rank,
        base_model=settings.shared.base_model_name,
        generator_adapter_dir=adapters.generator_dir or store.root,
        loader=loader,
        retriever=services.retriever,
        health=services.chat.health,
        metrics=services.metrics,
        background=services.background,
        require_eval_win=adapters.require_eval_win,
        unload_grace_seconds=adapters.unload_grace_seconds,
        locks=AdapterLocks(services.state.backend, replicas=adapters.lock_replicas),
    )


def start_route_example_seeding(services: GatewayServices, stack: AsyncExitStack) -> RouteExampleSeeder:
    """The router's own example sets and the active adapters' route examples, stored again at start (the
    retriever's index may be new); the gateway is ready once they are."""
    active = services.chat.adapters.active()
    adapter_examples = {name: adapter.card.route_examples for name, adapter in active.items()}
    seeder = RouteExampleSeeder(services.retriever, {**builtin_route_examples(), **adapter_examples})
    seeding = asyncio.create_task(seeder.run())
    stack.callback(seeding.cancel)
    return seeder


def readiness_probes(settings: GatewaySettings, services: GatewayServices, seeder: RouteExampleSeeder) -> Probes:
    checks: dict[str, ReadinessCheck] = {
        "retriever": services.retriever.ping,
        "generator": services.generator.ping,
        "route_examples": seeder.check,
    }
    if settings.shared.redis_target().configured:
        checks["redis"] = services.state.backend.ping
    return Probes(registry=exposed_registry(services.metrics.registry), checks=checks)
