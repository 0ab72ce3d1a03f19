"""The rollouts on the chat path: a conversation in a canary answered by the candidate (:mod:`.canary`),
then, once the answer has left, what it showed recorded as evidence, and a sample of requests queued to be
answered by the other version too (:mod:`.comparing`). Nothing here delays or fails a user's answer: the
evidence is written in the background, and a store that is down loses it (counted in the logs)."""

import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tutorbook_adapter_format.layout import VERSION_SEPARATOR
from tutorbook_gateway.adapters.catalog import AdapterHealth
from tutorbook_gateway.background import BackgroundTasks
from tutorbook_gateway.chat.planning import ChatPlan
from tutorbook_gateway.chat.request import ChatRequest
from tutorbook_gateway.rollouts.board import RolloutBoard
from tutorbook_gateway.rollouts.canary import CardOf, with_canary
from tutorbook_gateway.rollouts.comparing import Answer, Comparison, Comparisons, answer_of, served_event
from tutorbook_gateway.rollouts.evidence import Event, Rated, Served
from tutorbook_gateway.rollouts.measuring import observe_served
from tutorbook_gateway.rollouts.model import Rollout
from tutorbook_gateway.routing import AdapterState
from tutorbook_gateway.state.backend import StateUnavailableError
from tutorbook_service.errors import NotFoundError

log = logging.getLogger("tutorbook.rollouts")


@dataclass
class RolloutTracker:
    board: RolloutBoard
    card_of: CardOf
    health: AdapterHealth
    comparisons: Comparisons
    background: BackgroundTasks
    draw: Callable[[], float] = field(default=random.random)  # the shadow sample

    def refresh(self, names: Iterable[str]) -> None:
        self.board.refresh(names)

    def assign(self, request: ChatRequest) -> ChatRequest:
        return with_canary(request, self.board.known, self.card_of, self.health) if self.board.known else request

    def answered(
        self, request: ChatRequest, plan: ChatPlan, failed: bool, seconds: float, text: str, tokens: int = 0
    ) -> None:
        """An answer by an adapter version in a live rollout: its evidence, and maybe a comparison."""
        adapter = plan.decision.adapter or plan.reader
        rollout = self.board.known.get(adapter.name) if adapter is not None else None
        if adapter is None or rollout is None or not rollout.live or plan.decision.rule == "cache":
            return
        if adapter.version not in (rollout.active_version, rollout.candidate_version):
            return  # a pinned version outside the rollout
        answer = answer_of(adapter.version, text, plan.tutorbook)
        served = served_event(answer, plan.tutorbook, seconds, tokens)
        served = Served(version=adapter.version, failed=True) if failed else served
        observe_served(self.comparisons.metrics, rollout, served)
        self.background.spawn(self._record(rollout, [served]))
        if not failed and plan.decision.adapter is not None and self._compares(rollout, adapter.version):
            self._offer(rollout, request, plan, answer)

    def rated(self, adapter: str | None, helpful: bool) -> None:
        """Feedback on an answer by ``adapter`` (``name@version``), when that version is in a live rollout."""
        name, _, version = (adapter or "").rpartition(VERSION_SEPARATOR)
        rollout = self.board.known.get(name)
        if rollout is None or not rollout.live or not version.isdigit():
            return
        if int(version) in (rollout.active_version, rollout.candidate_version):
            self.background.spawn(self._record(rollout, [Rated(version=int(version), helpful=helpful)]))

    def _compares(self, rollout: Rollout, version: int) -> bool:
        if version == rollout.candidate_version:
            return True  # every canary answer, beside the active version's
        return rollout.shadow_fraction > 0 and self.draw() < rollout.shadow_fraction

    def _offer(self, rollout: Rollout, request: ChatRequest, plan: ChatPlan, answer: Answer) -> None:
        other = rollout.active_version if answer.version == rollout.candidate_version else rollout.candidate_version
        try:
            card = self.card_of(rollout.name, other)
        except NotFoundError:  # the version was deleted meanwhile
            return
        state = AdapterState(rollout.name, other, card.task_type, card.wants_context)
        self.comparisons.offer(Comparison(rollout, request, plan, answer, state, card))

    async def _record(self, rollout: Rollout, events: list[Event]) -> None:
        try:
            await self.board.record(rollout, events)
        except StateUnavailableError as exc:
            log.warning("rollout evidence not stored: %s", exc)
