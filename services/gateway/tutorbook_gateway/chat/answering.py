"""Answer one chat request: the walk, top to bottom.

1. validate  (:mod:`.validation`)  before anything is read or stored
2. admit     (:mod:`.admission`)   the key's rate limits, checked beside steps 3 to 6
3. converse  (:mod:`.sessions`)    the session's earlier turns
4. cache     (:mod:`.answer_cache`) an exact answer, computed at the current index version
5. plan      (:mod:`.planning`)    retrieve once, route; then a similar question's answer (semantic cache)
6. generate  (:mod:`.generation`)  vLLM (whole or streamed), a classifier's label, or abstain
7. record    (:mod:`.recording`)   turns, cache entry, feedback record, token charge, metrics

:func:`answer_chat` yields the answer as events: an :class:`AnswerStart` (the decision), the text in
pieces, an :class:`AnswerEnd`. Streaming differs only in how those leave (:mod:`.delivery`).
"""

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from tutorbook_gateway.chat.admission import AdmissionCheck, estimated_prompt_tokens
from tutorbook_gateway.chat.answer_cache import CacheLookup
from tutorbook_gateway.chat.claim_checking import CHECK_FIELDS
from tutorbook_gateway.chat.generation import Generation, generate, whole_answer
from tutorbook_gateway.chat.measuring import observe_answer, observe_refusal
from tutorbook_gateway.chat.planning import (
    AdapterSnapshot,
    ChatPlan,
    plan_chat,
    plan_from_cache,
    sampling_parameters,
    wants_retrieval,
)
from tutorbook_gateway.chat.recording import Answered, record_answer, response_record
from tutorbook_gateway.chat.retriever_down import plan_without_retriever
from tutorbook_gateway.chat.sessions import Caller, load_history, with_history
from tutorbook_gateway.chat.validation import chosen_session_id, validate_chat_request
from tutorbook_gateway.clients.upstream import ModelNotServedError
from tutorbook_gateway.routing import AUTO_MODEL
from tutorbook_gateway.schemas import ChatCompletionRequest
from tutorbook_gateway.services import GatewayServices
from tutorbook_service.errors import ServiceError

CHARACTERS_PER_TOKEN = 4  # English text, for an answer whose usage vLLM never reported


@dataclass(frozen=True)
class ChatCall:
    """A chat request as the route received it: the body, the key's fingerprint, the session header."""

    request: ChatCompletionRequest
    owner: str
    session_header: str | None = None


@dataclass(frozen=True)
class AnswerStart:
    """Decided, before the first word: the response's id and model, the router's decision, the headers."""

    response_id: str
    model: str
    tutorbook: dict[str, Any]
    cache_status: str | None  # hit, semantic-hit, miss; None: not cacheable
    session_id: str | None

    @property
    def route(self) -> str:
        return str(self.tutorbook.get("route", ""))


@dataclass(frozen=True)
class AnswerEnd:
    finish_reason: str | None
    usage: dict[str, Any]
    tutorbook: dict[str, Any] = field(default_factory=dict)  # what the answer added once it ended (claims)


ChatEvent = AnswerStart | str | AnswerEnd


@dataclass
class OpenedAnswer:
    """Steps 1 to 6 done: what step 7 and the delivery need."""

    caller: Caller
    plan: ChatPlan
    lookup: CacheLookup
    generation: Generation
    start: AnswerStart
    admission: AdmissionCheck


async def open_answer(call: ChatCall, services: GatewayServices) -> OpenedAnswer:
    request = call.request
    validate_chat_request(request, services.chat.config.limits)  # 1
    caller = Caller(call.owner, chosen_session_id(call.session_header, request))
    adapters = services.chat.adapter_snapshot()
    retrieves = wants_retrieval(request, services.chat, adapters)
    max_tokens = sampling_parameters(request, services.chat.config)["max_tokens"]
    admission = AdmissionCheck(  # 2
        services.state.limiter, services.in_flight, caller.owner, estimated_prompt_tokens(request), max_tokens
    )
    try:
        reading = time.perf_counter()
        history = await load_history(caller, services.state.conversations, services.metrics)  # 3
        asked = with_history(request, history)
        lookup = await services.answers.lookup(asked, adapters, retrieves, caller.owner)  # 4
        state_read = time.perf_counter() - reading
        plan = await plan_unless_cached(asked, lookup, adapters, retrieves, services)  # 5
        plan.phase_seconds["state_read"] = state_read
        if "fallback" in plan.tutorbook:
            lookup.key = None  # an answer the router gave without a part is not cached as the usual one
        try:
            generation = await admission.gate(generate_unless_cached(plan, lookup, request.stream, services))  # 6
        except ModelNotServedError as exc:
            if not may_fall_back(asked, plan):
                raise
            if plan.reader is not None:
                plan = without_reader(plan, services.chat.config.policy.base_model, exc)  # the base model reads
            else:
                plan = await plan_without_adapter(asked, plan, adapters, services, exc)  # 5 again, without it
            lookup.key = None  # an answer without the adapter is not what this request's key stands for
            generation = await admission.gate(generate(plan, services.chat, request.stream))  # 6 again
    except BaseException:
        admission.release(used_tokens=0)
        raise
    model = plan.payload["model"] if plan.payload else str((lookup.found or {}).get("model") or request.model)
    response_id = services.response_ids.mint(response_record(plan.tutorbook, model))
    start = AnswerStart(response_id, model, plan.tutorbook, lookup.status, caller.session_id)
    return OpenedAnswer(caller, plan, lookup, generation, start, admission)


async def plan_unless_cached(
    asked: ChatCompletionRequest,
    lookup: CacheLookup,
    adapters: AdapterSnapshot,
    retrieves: bool,
    services: GatewayServices,
) -> ChatPlan:
    """A cached answer's original decision; else a new plan, after which a similar question's answer may
    stand in (the semantic cache needs the plan's retrieval)."""
    if lookup.found is not None:
        return plan_from_cache(lookup.found.get("tutorbook") or {})
    try:
        plan = await plan_chat(asked, services.chat, adapters, retrieves, lookup.asked_similar)
    except ServiceError as exc:
        if getattr(exc, "service", None) != "retriever" or exc.status_code < 500:
            raise
        plan = plan_without_retriever(asked, services.chat, adapters, exc)  # small talk it knows, or exc
        services.metrics.upstream_errors.labels(service="retriever", kind=exc.code or "error").inc()
        return plan
    await services.answers.lookup_similar(lookup, plan)
    return plan_from_cache(lookup.found.get("tutorbook") or {}) if lookup.found is not None else plan


def may_fall_back(asked: ChatCompletionRequest, plan: ChatPlan) -> bool:
    """Only the router's own choice of an adapter (or of the grounded reader) is undone; a request that
    named the adapter gets the 503."""
    return plan.reader is not None or (plan.decision.adapter is not None and asked.model == AUTO_MODEL)


def without_reader(plan: ChatPlan, base_model: str, exc: ModelNotServedError) -> ChatPlan:
    """The same RAG answer, written by the base model: the grounded reader is not served."""
    assert plan.reader is not None and plan.payload is not None
    plan.tutorbook["fallback"] = {"from_reader": plan.reader.name, "because": exc.code}
    plan.tutorbook.pop("reader", None)
    plan.payload = {**plan.payload, "model": base_model}
    plan.reader = None
    return plan


async def plan_without_adapter(
    asked: ChatCompletionRequest,
    failed: ChatPlan,
    adapters: AdapterSnapshot,
    services: GatewayServices,
    exc: ModelNotServedError,
) -> ChatPlan:
    """The route the router takes without the adapter the generator could not serve, its reason saying so."""
    assert failed.decision.adapter is not None
    name = failed.decision.adapter.name
    services.metrics.adapter_fallbacks.labels(adapter=name).inc()
    remaining = AdapterSnapshot(
        {n: a for n, a in adapters.active.items() if n != name}, {n: s for n, s in adapters.states.items() if n != name}
    )
    plan = await plan_chat(asked, services.chat, remaining, wants_retrieval(asked, services.chat, remaining))
    plan.tutorbook["reason"] = f"adapter {exc.model} is not served by the generator; {plan.tutorbook['reason']}"
    plan.tutorbook["fallback"] = {"from_adapter": name, "because": exc.code}
    return plan


async def generate_unless_cached(
    plan: ChatPlan, lookup: CacheLookup, stream: bool, services: GatewayServices
) -> Generation:
    if lookup.found is not None:
        cached = whole_answer(lookup.found)
        checked = lookup.found.get("tutorbook") or {}
        cached.tutorbook = {field: checked[field] for field in CHECK_FIELDS if field in checked}  # as when fresh
        return cached
    return await generate(plan, services.chat, stream)


def used_tokens(opened: OpenedAnswer, pieces: list[str]) -> int:
    """What an answer cost: vLLM's count; for a stream that ended early (no usage came), its prompt and
    what was sent (a piece is a token or, through the runaway guard, a sentence); a cached answer, nothing."""
    if opened.lookup.found is not None:
        return 0
    total = int(opened.generation.usage.get("total_tokens") or 0)
    if total or not pieces:
        return total
    sent = max(len(pieces), sum(len(piece) for piece in pieces) // CHARACTERS_PER_TOKEN)
    return opened.admission.prompt_tokens + sent


async def answer_chat(call: ChatCall, services: GatewayServices) -> AsyncIterator[ChatEvent]:
    """Steps 1 to 6, then the answer as it leaves, then step 7 (however the delivery ends)."""
    started = time.perf_counter()
    try:
        opened = await open_answer(call, services)
    except ServiceError as exc:
        observe_refusal(services.metrics, exc, time.perf_counter() - started)
        raise
    generation, start = opened.generation, opened.start
    status, pieces = "499", []  # a client that leaves before the end: nginx's 499
    try:
        yield start
        async for piece in generation.pieces():
            pieces.append(piece)
            yield piece
        start.tutorbook.update(generation.tutorbook)  # recorded and cached with the answer
        yield AnswerEnd(generation.finish_reason, generation.usage, generation.tutorbook)
        status = "200"
    except ServiceError:
        status = "502"
        raise
    finally:
        await generation.aclose()
        opened.admission.release(used_tokens(opened, pieces))
        if status == "200":
            text = generation.checked_text or "".join(pieces)  # a live flagged stream: as marked, not as sent
            answered = Answered(
                start.response_id, start.model, text, generation.finish_reason, generation.usage,
                start.tutorbook, opened.plan.index_version,
            )  # fmt: skip
            writing = time.perf_counter()
            await record_answer(answered, opened.caller, call.request, opened.lookup, services)  # 7
            opened.plan.phase_seconds["state_write"] = time.perf_counter() - writing
        seconds = time.perf_counter() - started
        # Metrics and the log line wait until the response has left: the handler does not yield to the
        # event loop between here and writing it, so this runs right after.
        asyncio.get_running_loop().call_soon(
            observe_answer, services.metrics, opened.plan, status, seconds, generation.first_piece_seconds
        )
