"""Answer one chat request: the walk, top to bottom.

1. parse     (:mod:`.request`)      checked and parsed once, before anything is read or stored
2. admit     (:mod:`.admission`)    the key's rate limits, checked beside steps 3 to 6
3. converse  (:mod:`.request`)      the session's earlier turns
4. cache     (:mod:`.answer_cache`) an exact answer, computed at the current index version
5. plan      (:mod:`.planning`)     retrieve once, route; then a similar question's answer (semantic cache)
6. generate  (:mod:`.generation`)   vLLM (whole or streamed), a classifier's label, or abstain
7. record    (:mod:`.recording`)    turns, cache entry, claims outcome; the tokens used (:mod:`.admission`)

:func:`answer_chat` yields the answer as events: an :class:`AnswerStart` (the decision), the text in
pieces, an :class:`AnswerEnd`. Streaming differs only in how those leave (:mod:`.delivery`). Each step is
handed what it uses from :class:`ChatSteps`, which the app builds once.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tutorbook_gateway.adapters.catalog import AdapterCatalog, AdapterHealth
from tutorbook_gateway.chat.admission import AdmissionCheck, InFlight, Limiter
from tutorbook_gateway.chat.answer_cache import AnswerCache, CacheLookup
from tutorbook_gateway.chat.completions import ResponseIds
from tutorbook_gateway.chat.config import ChatConfig
from tutorbook_gateway.chat.generation import Generation, GenerationParts, generate
from tutorbook_gateway.chat.measuring import observe_answer, observe_refusal
from tutorbook_gateway.chat.planning import ChatPlan, Planner, can_plan_again, plan_again, plan_chat, plan_from_cache
from tutorbook_gateway.chat.recording import Answered, Keeping, budget_owner, record_answer
from tutorbook_gateway.chat.request import ChatCall, ChatRequest, adapter_snapshot, continued, parse_chat
from tutorbook_gateway.clients.capacity import GENERATION_OWNER
from tutorbook_gateway.clients.upstream import ModelNotServedError
from tutorbook_gateway.metrics import GatewayMetrics
from tutorbook_gateway.state.backend import ROUND_TRIPS, RoundTrips
from tutorbook_service.errors import ServiceError
from tutorbook_service.request_context import traced


class Rollouts(Protocol):
    """Adapter rollouts on the chat path (:class:`~tutorbook_gateway.rollouts.tracking.RolloutTracker`):
    step 1b gives a conversation in a canary the candidate version; step 7 keeps what the answer showed."""

    def refresh(self, names: Iterable[str]) -> None:
        """Read the rollouts again in the background when the copy is a second old (never waits)."""
        ...

    def assign(self, request: ChatRequest) -> ChatRequest: ...

    def answered(
        self, request: ChatRequest, plan: ChatPlan, failed: bool, seconds: float, text: str, tokens: int = 0
    ) -> None: ...


@dataclass(frozen=True)
class ChatSteps:
    """What the walk works with, built once in the app's lifespan (:mod:`tutorbook_gateway.wiring`)."""

    config: ChatConfig
    adapters: AdapterCatalog
    health: AdapterHealth
    limiter: Limiter
    in_flight: InFlight
    planner: Planner
    answers: AnswerCache
    generating: GenerationParts
    keeping: Keeping
    response_ids: ResponseIds
    metrics: GatewayMetrics
    rollouts: Rollouts | None = None  # a candidate version's canary and evidence


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

    request: ChatRequest
    plan: ChatPlan
    lookup: CacheLookup
    generation: Generation
    start: AnswerStart
    admission: AdmissionCheck


async def open_answer(call: ChatCall, steps: ChatSteps) -> OpenedAnswer:
    with traced("validate"):
        request = parse_chat(call, steps.config, adapter_snapshot(steps.adapters, steps.health))  # 1
    if steps.rollouts is not None:  # 1b: a conversation in a rollout's canary gets the candidate version
        steps.rollouts.refresh(request.adapters.active)
        request = steps.rollouts.assign(request)
    if request.session_id is not None:  # 2: a conversation keeps its turns, within the key's byte budget
        await steps.keeping.budget.check(budget_owner(request))
    admission = AdmissionCheck(  # 2
        steps.limiter, steps.in_flight, request.owner, request.prompt_tokens, request.max_tokens
    )
    try:
        reading = time.perf_counter()
        with traced("state_read"):  # the session, and the cache
            request = await continued(request, steps.keeping.conversations)  # 3
            lookup = await steps.answers.lookup(request)  # 4
        state_read = time.perf_counter() - reading
        if lookup.found is None:  # 5
            with traced("plan"):  # retrieval and routing
                plan = await plan_chat(request, steps.planner, lookup.asked_similar)
            await steps.answers.lookup_similar(lookup, plan)
        if lookup.found is not None:
            plan = plan_from_cache(lookup.found.get("tutorbook") or {})
        plan.phase_seconds["state_read"] = state_read
        if "fallback" in plan.tutorbook:
            lookup.key = None  # an answer the router gave without a part is not cached as the usual one
        stream = request.body.stream
        try:
            with traced("generate"):  # until the answer starts (a stream goes on under the request's span)
                generation = await admission.gate(generate(plan, steps.generating, stream, lookup.found))  # 6
        except ModelNotServedError as exc:
            note_failure(steps, request, plan, exc)
            if not can_plan_again(request, plan):
                raise
            plan = await plan_again(request, plan, steps.planner, exc)  # 5 again, without the adapter
            lookup.key = None  # an answer without the adapter is not what this request's key stands for
            generation = await generate(plan, steps.generating, stream)  # 6 again (the key was admitted)
        except ServiceError as exc:
            note_failure(steps, request, plan, exc)
            raise
    except BaseException:
        admission.release(used_tokens=0)
        raise
    model = plan.payload["model"] if plan.payload else str((lookup.found or {}).get("model") or request.route.model)
    response_id = steps.response_ids.mint_answer(plan.tutorbook, model, request.caller.team)
    start = AnswerStart(response_id, model, plan.tutorbook, lookup.status, request.session_id)
    return OpenedAnswer(request, plan, lookup, generation, start, admission)


def note_failure(steps: ChatSteps, request: ChatRequest, plan: ChatPlan, exc: ServiceError) -> None:
    """A generation that failed on the generator's side is evidence against the version in a rollout (a busy
    generator, or a request refused as the client's fault, is not)."""
    if steps.rollouts is not None and exc.status_code >= 500 and exc.code != "generator_busy":
        steps.rollouts.answered(request, plan, True, 0.0, "")


def after_answer(
    steps: ChatSteps, opened: OpenedAnswer, status: str, seconds: float, text: str, round_trips: int
) -> None:
    """An answer by a version in a rollout is evidence (a client that left says nothing of the version).
    Metrics and the log line wait until the response has left: the handler does not yield to the event
    loop between here and writing it, so they run right after."""
    generation = opened.generation
    if steps.rollouts is not None and status != "499":
        tokens = int(generation.usage.get("total_tokens") or 0)
        steps.rollouts.answered(opened.request, opened.plan, status != "200", seconds, text, tokens)
    asyncio.get_running_loop().call_soon(
        observe_answer, steps.metrics, opened.plan, status, seconds, generation.first_piece_seconds, round_trips
    )


async def answer_chat(call: ChatCall, steps: ChatSteps) -> AsyncIterator[ChatEvent]:
    """Steps 1 to 6, then the answer as it leaves, then step 7 (however the delivery ends)."""
    started = time.perf_counter()
    GENERATION_OWNER.set(call.caller.owner)  # generation slots are shared fairly between keys
    round_trips = RoundTrips()
    ROUND_TRIPS.set(round_trips)
    try:
        opened = await open_answer(call, steps)
    except ServiceError as exc:
        observe_refusal(steps.metrics, exc, time.perf_counter() - started)
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
        cached = opened.lookup.found is not None
        opened.admission.release_answer(generation.usage, pieces, generation.generated_pieces, cached)
        if status == "200":
            text = generation.checked_text or "".join(pieces)  # a live flagged stream: as marked, not as sent
            answered = Answered(
                start.response_id, start.model, text, generation.finish_reason, generation.usage,
                start.tutorbook, opened.plan.index_version,
            )  # fmt: skip
            writing = time.perf_counter()
            with traced("state_write"):
                await record_answer(answered, opened.request, opened.lookup, steps.keeping)  # 7
            opened.plan.phase_seconds["state_write"] = time.perf_counter() - writing
        after_answer(steps, opened, status, time.perf_counter() - started, "".join(pieces), round_trips.count)
