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
from tutorbook_gateway.chat import ChatContext, sampling_parameters
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
from tutorbook_gateway.state.backend import StateUnavailableError
from tutorbook_gateway.state.cache import CachedAnswer, cache_key, is_fresh
from tutorbook_gateway.state.conversations import Turn, validate_session_id
from tutorbook_gateway.state.feedback import ResponseRecord
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
    """Rate limit, merge the session's history, and look the answer up in the cache."""
    await state.limiter.admit(caller.owner)
    phases: dict[str, float] = {}
    started = time.perf_counter()
    history: list[Turn] = []
    if caller.session_id is not None:
        loaded = await degraded("sessions", state.conversations.history(caller.owner, caller.session_id), metrics)
        history = loaded or []
    merged = with_history(request, history)
    states = adapter_states(context.adapters.active(), context.health)
    fields = cache_fields(merged, context, states) if state.cache is not None else None
    if fields is None:
        metrics.cache_lookups.labels(result="bypass").inc()
        phases["state_read"] = time.perf_counter() - started
        return Prepared(merged, new_turns(request), None, phase_seconds=phases)
    key = cache_key(fields)
    cached = await lookup(key, may_retrieve(merged, context, states), state, context, metrics)
    phases["state_read"] = time.perf_counter() - started
    return Prepared(merged, new_turns(request), key, cached, phases)


async def lookup(
    key: str, versioned: bool, state: GatewayState, context: ChatContext, metrics: GatewayMetrics
) -> dict[str, Any] | None:
    """A fresh cached completion, or None. ``versioned``: the answer depends on the index, whose current
    version is fetched beside the lookup, not after it."""
    assert state.cache is not None
    lookup_task = degraded("cache", state.cache.lookup(key), metrics)
    if versioned:
        answer, version = await asyncio.gather(lookup_task, current_index_version(context))
    else:
        answer, version = await lookup_task, None
    if answer is None:
        metrics.cache_lookups.labels(result="miss").inc()
        return None
    if not is_fresh(answer, version) or (versioned and answer.index_version is None):
        metrics.cache_lookups.labels(result="stale").inc()
        return None
    metrics.cache_lookups.labels(result="hit").inc()
    completion = dict(answer.completion)
    completion.update(id=f"chatcmpl-{uuid.uuid4().hex}", created=int(time.time()))
    return completion


async def current_index_version(context: ChatContext) -> int | None:
    try:
        return await context.retriever.index_version()
    except Exception as exc:  # noqa: BLE001 - without the version no cached answer can be trusted
        log.warning("index version unavailable, cache bypassed: %s", exc)
        return None


async def remember(
    prepared: Prepared,
    caller: Caller,
    completion: dict[str, Any],
    answer_text: str,
    index_version: int | None,
    state: GatewayState,
    metrics: GatewayMetrics,
) -> None:
    """After an answer: the session's new turns, the cache entry, the record for feedback, the tokens used."""
    started = time.perf_counter()
    block = completion.get("tutorbook") or {}
    adapter = block.get("adapter")
    operations: list[Awaitable[Any]] = []
    if caller.session_id is not None:
        turns = [*prepared.new_turns, Turn("assistant", answer_text)]
        operations.append(
            degraded("sessions", state.conversations.record(caller.owner, caller.session_id, turns), metrics)
        )
    if prepared.cache_key is not None and prepared.cached is None and state.cache is not None:
        entry = CachedAnswer(completion, index_version)
        operations.append(degraded("cache", state.cache.store(prepared.cache_key, entry), metrics))
    record = ResponseRecord(
        route=str(block.get("route", "")),
        adapter=None if not adapter else f"{adapter['name']}@{adapter['version']}",
        model=str(completion.get("model", "")),
        created=int(time.time()),
    )
    operations.append(degraded("feedback", state.feedback.remember_response(str(completion["id"]), record), metrics))
    usage = completion.get("usage") or {}
    if prepared.cached is None and usage.get("total_tokens"):
        operations.append(
            degraded("rate_limits", state.limiter.charge_tokens(caller.owner, int(usage["total_tokens"])), metrics)
        )
    await asyncio.gather(*operations)
    prepared.phase_seconds["state_write"] = time.perf_counter() - started
