"""Requests answered by both versions, in the background: the candidate beside the active version's answer
(shadow), or the active version beside a canary answer. The second answer is recorded, never returned.

It runs after the user's answer has left, one at a time per gateway, once no user's generation has run
or waited on this gateway for ``QUIET_SECONDS``
(:meth:`~tutorbook_gateway.clients.capacity.GenerationSlots.quiet_seconds`), in a slot no user holds
(:meth:`~tutorbook_gateway.clients.capacity.GenerationSlots.take_idle`), at a lower vLLM priority than
users' requests; and it gives way: when a user's generation asks for a slot meanwhile, the comparison is
cancelled (its request to vLLM closed, which vLLM aborts at its next step). A comparison that finds no
quiet within ``QUIET_WAIT_SECONDS``, finds ``max_queued`` already waiting, or gives way, is dropped and
counted, never queued behind users.

For text, the answers are compared by word-overlap F1 (SQuAD's answer score: the words both share, over
each answer's words): it costs no model call (an embedding per answer would put the comparison on the
retriever, the tier that already costs the most CPU per answer), it is 1.0 for the same answer and falls
with every word one says and the other does not; and by the claim check's verdicts where the answer is
written from passages ("same" means both, or neither, had an unsupported claim).
"""

import asyncio
import dataclasses
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from tutorbook_adapter_format.card import AdapterCard
from tutorbook_gateway.adapters.catalog import ActiveAdapter
from tutorbook_gateway.chat.config import ChatConfig
from tutorbook_gateway.chat.generation import GenerationParts, generate
from tutorbook_gateway.chat.planning import ChatPlan, generator_payload, tutorbook_block
from tutorbook_gateway.chat.request import ChatRequest
from tutorbook_gateway.clients.capacity import GenerationSlots
from tutorbook_gateway.metrics import GatewayMetrics
from tutorbook_gateway.rollouts.board import RolloutBoard
from tutorbook_gateway.rollouts.evidence import Compared, Event, Served
from tutorbook_gateway.rollouts.measuring import observe_compared, observe_served
from tutorbook_gateway.rollouts.model import Rollout
from tutorbook_gateway.routing import AdapterState
from tutorbook_service.errors import ServiceError

log = logging.getLogger("tutorbook.rollouts")
QUIET_SECONDS = 0.25  # no user's generation for this long before a comparison starts
QUIET_WAIT_SECONDS = 30.0  # a comparison still waiting for quiet after this long is dropped
WORDS = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Answer:
    """What a comparison needs of one version's answer."""

    version: int
    text: str
    confidence: float | None = None
    label: str | None = None
    unsupported: int | None = None  # None: no claim check


@dataclass(frozen=True)
class Comparison:
    rollout: Rollout
    request: ChatRequest
    plan: ChatPlan  # the plan the user's answer came from
    first: Answer  # that answer
    other: AdapterState  # the version that answers second
    card: AdapterCard


def overlap(first: str, second: str) -> float:
    """Word-overlap F1 of two answers (1.0 when both are empty)."""
    mine, theirs = Counter(WORDS.findall(first.lower())), Counter(WORDS.findall(second.lower()))
    if not mine or not theirs:
        return float(mine == theirs)
    shared = sum((mine & theirs).values())
    if shared == 0:
        return 0.0
    precision, recall = shared / sum(mine.values()), shared / sum(theirs.values())
    return 2 * precision * recall / (precision + recall)


def answer_of(version: int, text: str, tutorbook: dict[str, Any]) -> Answer:
    classification = tutorbook.get("classification") or {}
    check = tutorbook.get("answer_check") or {}
    return Answer(
        version,
        text,
        classification.get("confidence"),
        classification.get("label"),
        int(check["unsupported"]) if check.get("checked") else None,
    )


def served_event(
    answer: Answer, tutorbook: dict[str, Any], seconds: float, tokens: int = 0, shadow: bool = False
) -> Served:
    claims = int((tutorbook.get("answer_check") or {}).get("claims") or 0)
    return Served(
        version=answer.version,
        seconds=round(seconds, 4),
        confidence=answer.confidence,
        claims=claims if answer.unsupported is not None else 0,
        unsupported=answer.unsupported or 0,
        shadow=shadow,
        tokens=tokens,
    )


def second_plan(comparison: Comparison, config: ChatConfig) -> ChatPlan:
    """The user's plan with the other version writing the answer (the same passages, the same prompt)."""
    plan, other = comparison.plan, comparison.other
    decision = dataclasses.replace(plan.decision, adapter=other)
    active = {other.name: ActiveAdapter(comparison.card, other.version)}
    payload, used, labels = generator_payload(comparison.request, decision, plan.sources, active, config)
    second = ChatPlan(decision, tutorbook_block(decision, used), payload, plan.top_score, labels=labels)
    second.sources, second.claims_policy, second.codes = used, plan.claims_policy, comparison.card.label_codes
    return second


def compared(first: Answer, second: Answer, candidate: int) -> Compared:
    active, candidate_answer = (first, second) if second.version == candidate else (second, first)
    if active.label is not None or candidate_answer.label is not None:
        same = active.label == candidate_answer.label
    elif active.unsupported is not None and candidate_answer.unsupported is not None:
        same = (active.unsupported == 0) == (candidate_answer.unsupported == 0)
    else:
        same = overlap(active.text, candidate_answer.text) >= 0.5
    return Compared(
        same=same,
        active_confidence=active.confidence,
        candidate_confidence=candidate_answer.confidence,
        overlap=round(overlap(active.text, candidate_answer.text), 4),
    )


class Comparisons:
    """The queue of comparisons and the one task that works through it."""

    def __init__(
        self, board: RolloutBoard, parts: GenerationParts, config: ChatConfig, max_queued: int, metrics: GatewayMetrics,
        slots: GenerationSlots | None = None,
    ) -> None:  # fmt: skip
        self.board, self.parts, self.config, self.metrics, self.slots = board, parts, config, metrics, slots
        self.queue: asyncio.Queue[Comparison] = asyncio.Queue(max(1, max_queued))
        self.enabled = max_queued > 0

    def offer(self, comparison: Comparison) -> bool:
        try:
            if not self.enabled:
                raise asyncio.QueueFull
            self.queue.put_nowait(comparison)
        except asyncio.QueueFull:
            observe_compared(self.metrics, comparison.rollout, None)
            return False
        return True

    async def run(self) -> None:
        while True:
            comparison = await self.queue.get()
            try:
                if await self.quiet():
                    await self.giving_way(comparison)
                else:
                    observe_compared(self.metrics, comparison.rollout, None)
            except Exception:  # a comparison never takes the gateway down
                log.exception("rollout comparison failed")

    async def quiet(self) -> bool:
        """Wait until no user's generation has run or waited here for ``QUIET_SECONDS`` (False: not in time)."""
        if self.slots is None:
            return True
        deadline = time.monotonic() + QUIET_WAIT_SECONDS
        while (quiet := self.slots.quiet_seconds()) < QUIET_SECONDS:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(QUIET_SECONDS - quiet)
        return True

    async def giving_way(self, comparison: Comparison) -> None:
        """The second answer, cancelled when a user's generation asks for a slot before it ends; then what
        it showed, kept (once the answer is in, a user who comes no longer cancels anything)."""
        if self.slots is None:
            outcome = await self.answer_again(comparison)
        else:
            answering = asyncio.create_task(self.answer_again(comparison))
            arrival = asyncio.create_task(self.slots.user_arrived.wait())
            try:
                await asyncio.wait({answering, arrival}, return_when=asyncio.FIRST_COMPLETED)
            finally:  # a user came (or this task is being cancelled): the second answer gives way
                arrival.cancel()
                if not answering.done():
                    answering.cancel()
                    await asyncio.gather(answering, return_exceptions=True)
            if answering.cancelled():
                observe_compared(self.metrics, comparison.rollout, None, gave_way=True)
                return
            outcome = answering.result()
        if outcome is not None:
            await self.keep(comparison.rollout, *outcome)

    async def answer_again(self, comparison: Comparison) -> tuple[Served | None, Compared | None] | None:
        """The other version's answer: the evidence it gives (None: none, as when no slot was idle)."""
        plan, rollout = second_plan(comparison, self.config), comparison.rollout
        started = time.perf_counter()
        shadow = comparison.other.version == rollout.candidate_version
        try:
            generation = await generate(plan, self.parts, stream=False)
            try:
                text = "".join([piece async for piece in generation.pieces()])
            finally:  # also when cancelled: vLLM aborts a request whose connection closed
                await generation.aclose()
        except ServiceError as exc:
            if exc.code == "generator_busy" or exc.status_code < 500:  # no idle slot, or refused: no evidence
                observe_compared(self.metrics, rollout, None)
                return None
            # the active version failing here is not counted: the users' answers count its errors
            return (Served(version=comparison.other.version, failed=True, shadow=True), None) if shadow else None
        plan.tutorbook.update(generation.tutorbook)
        second = answer_of(comparison.other.version, text, plan.tutorbook)
        # the candidate's shadow answer is evidence of its own; the active version's are the users' answers
        tokens = int(generation.usage.get("total_tokens") or 0)
        seconds = time.perf_counter() - started
        served = served_event(second, plan.tutorbook, seconds, tokens, shadow=True) if shadow else None
        return served, compared(comparison.first, second, rollout.candidate_version)

    async def keep(self, rollout: Rollout, served: Served | None, pair: Compared | None) -> None:
        events: list[Event] = []
        if served is not None:
            observe_served(self.metrics, rollout, served)
            events.append(served)
        if pair is not None:
            observe_compared(self.metrics, rollout, pair)
            events.append(pair)
        await self.board.record(rollout, events)
