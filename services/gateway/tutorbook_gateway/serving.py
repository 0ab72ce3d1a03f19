"""Everything around answering a chat request that lives in the gateway's state: rate limits, the
conversation of a session, the response cache, and the record feedback will point at.

State failures never fail a chat: each one is logged, counted by component, and degraded (no cache, no
history). Rate limiting alone may refuse requests when the store is down, if the settings say so.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

from tutorbook_common.errors import BadRequestError
from tutorbook_gateway.adapters.catalog import adapter_states
from tutorbook_gateway.chat import ChatContext, ChatPlan, sampling_parameters
from tutorbook_gateway.conversation import message_text
from tutorbook_gateway.metrics import GatewayMetrics
from tutorbook_gateway.routing import (
    AUTO_MODEL,
    AdapterState,
    RouteHintError,
    RouteRequest,
    UnknownModelError,
    needs_retrieval,
    resolve_adapter,
)
from tutorbook_gateway.schemas import ChatCompletionRequest, ChatMessage
from tutorbook_gateway.services import GatewayServices
from tutorbook_gateway.state.backend import StateUnavailableError
from tutorbook_gateway.state.cache import CachedAnswer, cache_key, is_fresh
from tutorbook_gateway.state.conversations import Turn, validate_session_id
from tutorbook_gateway.state.feedback import ResponseRecord
from tutorbook_gateway.state.rate_limits import Admission
from tutorbook_gateway.state.store import GatewayState

SESSION_HEADER = "x-tutorbook-session"
CACHE_HEADER = "x-tutorbook-cache"
SYSTEM_ROLES = ("system", "developer")
log = logging.getLogger("tutorbook.state")
T = TypeVar("T")


@dataclass(frozen=True)
class Caller:
    owner: str  # the API key's fingerprint: sessions, limits and feedback are per key
    session_id: str | None


@dataclass
class Prepared:
    """A request made ready: its history merged in, and its cache key (None: not cacheable)."""

    request: ChatCompletionRequest
    new_turns: list[Turn]
    cache_key: str | None
    cached: dict[str, Any] | None = None
    phase_seconds: dict[str, float] = field(default_factory=dict)
    cache_source: str = "hit"  # how ``cached`` was found: "hit" (exact) or "semantic-hit"
    admission: "asyncio.Future[Admission] | None" = None  # the rate-limit check, running beside the work
    semantic_query: str | None = None  # the question to remember for the semantic cache

    @property
    def single_question(self) -> bool:
        """One user message and nothing else: only then may a similar question's answer stand in."""
        return len(self.request.messages) == 1 and self.request.messages[0].role == "user"


async def quietly(what: str, operation: Awaitable[Any]) -> None:
    """Best-effort background work: a failure is logged, never raised."""
    try:
        await operation
    except Exception as exc:  # noqa: BLE001 - nothing waits for this
        log.warning("%s not updated: %s", what, exc)


async def degraded(component: str, operation: Awaitable[T], metrics: GatewayMetrics) -> T | None:
    """Run a state operation; when the store is down, log and count it and carry on without it."""
    try:
        return await operation
    except StateUnavailableError as exc:
        metrics.state_errors.labels(component=component).inc()
        log.warning("state store unavailable, degrading %s: %s", component, exc)
        return None


def session_id_of(header: str | None, request: ChatCompletionRequest) -> str | None:
    body = request.tutorbook.session_id if request.tutorbook else None
    if header and body and header != body:
        raise BadRequestError(f"the {SESSION_HEADER} header and tutorbook.session_id differ", param="session_id")
    chosen = header or body
    return None if chosen is None else validate_session_id(chosen)


def with_history(request: ChatCompletionRequest, history: list[Turn]) -> ChatCompletionRequest:
    """The request's system messages, then the stored turns, then the request's new turns."""
    if not history:
        return request
    system = [message for message in request.messages if message.role in SYSTEM_ROLES]
    turns = [message for message in request.messages if message.role not in SYSTEM_ROLES]
    earlier = [ChatMessage(turn.role, turn.content) for turn in history]
    return msgspec.structs.replace(request, messages=[*system, *earlier, *turns])


def new_turns(request: ChatCompletionRequest) -> list[Turn]:
    return [
        Turn(message.role, message_text(message))
        for message in request.messages
        if message.role in ("user", "assistant")
    ]


def cache_fields(
    request: ChatCompletionRequest, context: ChatContext, states: Mapping[str, AdapterState]
) -> dict[str, Any] | None:
    """What decides the answer, normalised; None when the answer is not deterministic (or the model is
    unknown: answering will say so)."""
    params = sampling_parameters(request, context.config)
    if params["temperature"] != 0 and request.seed is None:
        return None
    params.pop("user", None)
    hint = request.tutorbook.route if request.tutorbook else None
    if request.model == AUTO_MODEL:
        adapters = sorted(state.served_name for state in states.values())
    elif request.model == context.config.policy.base_model:
        adapters = []
    else:
        try:
            adapter = resolve_adapter(request.model, states)
        except UnknownModelError:
            return None
        if adapter is None:
            return None
        adapters = [adapter.served_name]
    messages = [(message.role, " ".join(message_text(message).split())) for message in request.messages]
    return {"messages": messages, "model": request.model, "route": hint, "adapters": adapters, **params}


def may_retrieve(request: ChatCompletionRequest, context: ChatContext, states: Mapping[str, AdapterState]) -> bool:
    hint = request.tutorbook.route if request.tutorbook else None
    try:
        return needs_retrieval(RouteRequest(request.model, route_hint=hint), context.config.policy, states)
    except (UnknownModelError, RouteHintError):
        return True


async def prepare(
    request: ChatCompletionRequest,
    caller: Caller,
    state: GatewayState,
    context: ChatContext,
    metrics: GatewayMetrics,
) -> Prepared:
    """Merge the session's history and look the answer up in the cache. The rate-limit check starts here
    and runs beside everything until :func:`gated` (or :func:`admitted`) waits for it."""
    started = time.perf_counter()
    admission = asyncio.ensure_future(state.limiter.admit(caller.owner))
    try:
        prepared = await read_state(request, caller, state, context, metrics)
    except BaseException:
        admission.cancel()
        raise
    prepared.admission = admission
    prepared.phase_seconds["state_read"] = time.perf_counter() - started
    return prepared


async def admitted(prepared: Prepared) -> None:
    """Wait for the rate-limit check: raises 429 (or 503 when failing closed)."""
    if prepared.admission is not None:
        await prepared.admission


async def gated(work: Awaitable[T], prepared: Prepared) -> T:
    """Run ``work`` while the rate-limit check finishes (a Redis round trip, long before any generation
    does); a refusal cancels the work, which closes the upstream request and so aborts it in vLLM."""
    task = asyncio.ensure_future(work)
    try:
        await admitted(prepared)
    except BaseException:
        task.cancel()
        raise
    return await task


async def read_state(
    request: ChatCompletionRequest,
    caller: Caller,
    state: GatewayState,
    context: ChatContext,
    metrics: GatewayMetrics,
) -> Prepared:
    history: list[Turn] = []
    if caller.session_id is not None:
        loaded = await degraded("sessions", state.conversations.history(caller.owner, caller.session_id), metrics)
        history = loaded or []
    merged = with_history(request, history)
    states = adapter_states(context.adapters.active(), context.health)
    fields = cache_fields(merged, context, states) if state.cache is not None else None
    if fields is None:
        metrics.cache_lookups.labels(result="bypass").inc()
        return Prepared(merged, new_turns(request), None)
    key = cache_key(fields)
    cached = await lookup(key, may_retrieve(merged, context, states), state, context, metrics)
    return Prepared(merged, new_turns(request), key, cached)


async def lookup(
    key: str, versioned: bool, state: GatewayState, context: ChatContext, metrics: GatewayMetrics
) -> dict[str, Any] | None:
    """A fresh cached completion, or None. ``versioned``: the answer depends on the index. Its current
    version comes with the entry when the retriever publishes it to the shared Redis; otherwise the
    retriever is asked, beside the lookup."""
    assert state.cache is not None
    found: tuple[CachedAnswer | None, int | None] | None
    if not versioned:
        answer = await degraded("cache", state.cache.lookup(key), metrics)
        found = (answer, None)
    else:
        found = await degraded("cache", state.cache.lookup_with_version(key), metrics)
    answer, version = found or (None, None)
    if answer is None:
        metrics.cache_lookups.labels(result="miss").inc()
        return None
    if versioned and version is None:
        version = await current_index_version(context)
    if not is_fresh(answer, version) or (versioned and answer.index_version is None):
        metrics.cache_lookups.labels(result="stale").inc()
        return None
    metrics.cache_lookups.labels(result="hit").inc()
    return fresh_copy(answer.completion)


def wants_similar_questions(prepared: Prepared, state: GatewayState) -> bool:
    return (
        state.semantic_min_similarity is not None
        and prepared.cache_key is not None
        and prepared.cached is None
        and prepared.single_question
    )


async def semantic_lookup(plan: ChatPlan, prepared: Prepared, services: GatewayServices) -> dict[str, Any] | None:
    """The answer to a similar enough question, computed at the current index version, or None."""
    state, threshold = services.state, services.state.semantic_min_similarity
    if threshold is None or state.cache is None or not wants_similar_questions(prepared, state):
        return None
    prepared.semantic_query = plan.query
    similar = plan.similar
    if similar is None or similar.score < threshold or similar.key == prepared.cache_key:
        return None
    answer = await degraded("cache", state.cache.lookup(similar.key), services.metrics)
    if answer is None or answer.index_version is None or answer.index_version != plan.index_version:
        return None
    services.metrics.cache_lookups.labels(result="semantic_hit").inc()
    prepared.cache_source = "semantic-hit"
    return fresh_copy(answer.completion)


def fresh_copy(completion: dict[str, Any]) -> dict[str, Any]:
    copy = dict(completion)
    copy.update(id=new_response_id(), created=int(time.time()))
    return copy


async def current_index_version(context: ChatContext) -> int | None:
    try:
        return await context.retriever.index_version()
    except Exception as exc:  # noqa: BLE001 - without the version no cached answer can be trusted
        log.warning("index version unavailable, cache bypassed: %s", exc)
        return None


def response_record(block: dict[str, Any], model: str) -> ResponseRecord:
    adapter = block.get("adapter")
    return ResponseRecord(
        route=str(block.get("route", "")),
        adapter=None if not adapter else f"{adapter['name']}@{adapter['version']}",
        model=model,
        created=int(time.time()),
    )


def record_response(response_id: str, record: ResponseRecord, services: GatewayServices) -> None:
    """What feedback on ``response_id`` will name: written off the response's path (feedback on this
    replica that arrives first waits for the write; another replica sees it within a round trip)."""
    feedback = services.state.feedback
    write = degraded("feedback", feedback.remember_response(response_id, record), services.metrics)
    feedback.remember_response_soon(response_id, write)


def new_response_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


async def remember(
    prepared: Prepared,
    caller: Caller,
    completion: dict[str, Any],
    answer_text: str,
    index_version: int | None,
    services: GatewayServices,
) -> None:
    """After an answer: the session's new turns (awaited: the next turn must see them), the tokens used
    (noted for the rate limiter), and, off the response's path, the cache entry."""
    state, metrics = services.state, services.metrics
    started = time.perf_counter()
    if caller.session_id is not None:
        turns = [*prepared.new_turns, Turn("assistant", answer_text)]
        await degraded("sessions", state.conversations.record(caller.owner, caller.session_id, turns), metrics)
    prepared.phase_seconds["state_write"] = time.perf_counter() - started
    later: list[Awaitable[Any]] = []
    if prepared.cache_key is not None and prepared.cached is None and state.cache is not None:
        entry = CachedAnswer(completion, index_version)
        later.append(degraded("cache", state.cache.store(prepared.cache_key, entry), metrics))
        if prepared.semantic_query and index_version is not None:
            remembered = services.chat.retriever.remember_question(
                prepared.cache_key, prepared.semantic_query, index_version
            )
            later.append(quietly("semantic cache", remembered))
    usage = completion.get("usage") or {}
    if prepared.cached is None and usage.get("total_tokens"):
        state.limiter.charge_tokens(caller.owner, int(usage["total_tokens"]))
    if later:
        services.background.spawn(asyncio.gather(*later))
