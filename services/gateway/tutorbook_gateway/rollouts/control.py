"""Starting, steering and ending rollouts: by a person through the API, or by the evidence (every replica
looks once a second; the first to take a decision's key decides, the others see it).

A promotion activates the candidate the way ``POST /v1/adapters/{name}/activate`` does (loaded on every
generator replica first, under the adapter's lock); a rollback leaves the active version as it was and
stops the canary. A rollout whose active version was changed by hand meanwhile is aborted: it no longer
compares what it was started for.
"""

import asyncio
import contextlib
import logging
import time
from typing import Any, Protocol

from tutorbook_adapter_format.card import AdapterCard
from tutorbook_gateway.access.audit import AuditLog
from tutorbook_gateway.access.directory import Caller
from tutorbook_gateway.metrics import GatewayMetrics
from tutorbook_gateway.rollouts.board import RolloutBoard
from tutorbook_gateway.rollouts.evidence import gathered
from tutorbook_gateway.rollouts.judging import judge
from tutorbook_gateway.rollouts.model import ENDED, Action, Decision, Rollout, RolloutStart, State, new_rollout
from tutorbook_gateway.state.backend import StateUnavailableError
from tutorbook_service.errors import BadRequestError, ConflictError, NotFoundError, ServiceError

log = logging.getLogger("tutorbook.rollouts")
AUTOMATIC = Caller("tutorbook:rollout", "", frozenset())  # who an automatic decision is audited as
CHECK_SECONDS = 1.0
STALLED_SECONDS = 300.0  # a decision not carried out after this long: its replica stopped half way


class Versions(Protocol):
    """The adapter store as rollouts use it."""

    def names(self) -> list[str]: ...

    def versions(self, name: str) -> list[int]: ...

    def active_version(self, name: str) -> int | None: ...

    def card(self, name: str, version: int) -> AdapterCard: ...


class Activator(Protocol):
    """The adapter admin: what a rollout asks of the generators."""

    async def prepare(self, name: str, version: int) -> None:
        """The candidate loaded on every generator replica (raises when one cannot)."""
        ...

    async def activate(self, name: str, version: int) -> list[dict[str, Any]]: ...

    async def retire(self, name: str, version: int) -> None:
        """The candidate unloaded, after a grace period for the answers it is writing."""
        ...


class RolloutControl:
    def __init__(
        self, board: RolloutBoard, versions: Versions, activator: Activator, audit: AuditLog, metrics: GatewayMetrics,
        comparing: bool = True,
    ) -> None:  # fmt: skip
        self.board, self.versions, self.activator, self.audit = board, versions, activator, audit
        self.metrics, self.comparing = metrics, comparing

    async def start(self, name: str, start: RolloutStart, caller: Caller) -> Rollout:
        start.check()
        active = self.versions.active_version(name)
        if active is None:
            raise NotFoundError(f"adapter {name!r} has no active version to roll out from", param="name")
        if start.version not in self.versions.versions(name):
            raise NotFoundError(f"adapter {name!r} has no version {start.version}", param="version")
        if start.version == active:
            raise ConflictError(f"version {start.version} of {name!r} is already active", param="version")
        card, candidate = self.versions.card(name, active), self.versions.card(name, start.version)
        if card.task_type != candidate.task_type or card.labels != candidate.labels:
            raise ConflictError("the candidate's task or labels differ from the active version's", param="version")
        if not self.comparing and (start.shadow_fraction > 0 or card.task_type == "classifier"):
            setting = "TUTORBOOK_GATEWAY_ADAPTERS__ROLLOUT_MAX_QUEUED_COMPARISONS"
            raise BadRequestError(f"comparisons are off ({setting}=0): no shadow, and no classifier can be judged")
        current = await self.board.get(name)
        if current is not None and current.state not in ENDED:
            raise ConflictError(f"a rollout of {name!r} is under way ({current.state}): end it first", param="name")
        rollout = new_rollout(name, start, active, card.task_type, caller.owner)
        await self.activator.prepare(name, start.version)  # loaded everywhere before its first answer
        try:
            await self.board.put(rollout)
        except StateUnavailableError:
            await self.activator.retire(name, start.version)
            raise
        return rollout

    async def show(self, name: str) -> dict[str, Any]:
        rollout = await self.board.get(name)
        if rollout is None:
            raise NotFoundError(f"adapter {name!r} has no rollout", param="name")
        evidence = gathered(await self.board.events(rollout), rollout.candidate_version)
        verdict, reasons = judge(rollout.criteria, evidence, rollout.task_type == "classifier")
        return {
            "rollout": rollout,
            "evidence": evidence.summary(),
            "verdict": {"now": verdict, "reasons": reasons} if rollout.state not in ENDED else None,
            "history": [past for past in await self.board.history(name) if past.id != rollout.id],
        }

    async def act(self, name: str, action: Action, caller: Caller) -> Rollout:
        rollout = await self.board.get(name)
        if rollout is None or rollout.state in ENDED:
            raise ConflictError(f"adapter {name!r} has no rollout under way", param="name")
        if action in (Action.PAUSE, Action.RESUME):
            if rollout.state is State.PROMOTING or await self.board.claimed(rollout) is not None:
                raise ConflictError(f"the rollout of {name!r} was decided already", param="name")
            rollout.state = State.PAUSED if action is Action.PAUSE else State.RUNNING
            await self.board.put(rollout)
            return rollout
        state = State.PROMOTED if action is Action.PROMOTE else State.ABORTED
        evidence = gathered(await self.board.events(rollout), rollout.candidate_version).summary()
        reasons = [f"{action} by hand"]
        decision = Decision(state=state, by=caller.owner, at=time.time(), reasons=reasons, evidence=evidence)
        return await self.decide(rollout, decision)

    async def decide(self, rollout: Rollout, decision: Decision) -> Rollout:
        """Take the rollout's one decision and carry it out; a ConflictError when it was already taken."""
        if not await self.board.claim(rollout, decision):
            raise ConflictError(f"the rollout of {rollout.name!r} was decided already", param="name")
        return await self.carry_out(rollout, decision)

    async def carry_out(self, rollout: Rollout, decision: Decision) -> Rollout:
        """A rollback or abort ends the canary at once; a promotion first stops it (``promoting``: users get
        the active version meanwhile), then activates the candidate. A promotion that finds the adapter's
        lock taken (another change to the name) is given back, to be decided again."""
        if decision.state is State.PROMOTED:
            rollout.state = State.PROMOTING
            await self.board.put(rollout)
            try:
                await self.activator.activate(rollout.name, rollout.candidate_version)
            except ConflictError:
                rollout.state = State.RUNNING
                await self.board.put(rollout)
                await self.board.unclaim(rollout)
                return rollout
            except ServiceError as exc:  # not loaded everywhere: the active version stays, and says why
                decision.state = State.ABORTED
                decision.reasons = [*decision.reasons, f"promotion failed: {exc.message}"]
        rollout.state, rollout.decision = decision.state, decision
        await self.board.close(rollout)
        if decision.state is not State.PROMOTED:
            await self.activator.retire(rollout.name, rollout.candidate_version)
        self.metrics.rollout_decisions.labels(adapter=rollout.name, state=decision.state.value).inc()
        if decision.by == "auto":  # a person's decision is audited by the route they asked through
            target, details = f"{rollout.name}@{rollout.candidate_version}", {"reasons": decision.reasons}
            await self.audit.record(AUTOMATIC, f"adapter.rollout.{decision.state}", target, "ok", details)
        return rollout

    async def run(self) -> None:
        """Every replica, once a second: each live rollout judged on its evidence."""
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            try:
                await self.check_all()
            except StateUnavailableError as exc:
                log.warning("rollouts not checked: %s", exc)
            except Exception:
                log.exception("rollouts not checked")

    async def check_all(self) -> None:
        """Every live rollout judged: their records read in one round trip, then each one's evidence."""
        for rollout in (await self.board.get_many(self.versions.names())).values():
            if rollout.state not in ENDED:
                await self.check(rollout)

    async def check(self, rollout: Rollout) -> None:
        taken = await self.board.claimed(rollout)
        if taken is not None:  # decided; carried out by its replica, or, if that stopped half way, by one other
            if time.time() - taken.at > STALLED_SECONDS and await self.board.take_over(rollout):
                await self.carry_out(rollout, taken)
            return
        changed = outside_change(self.versions, rollout)
        if changed is not None:
            await self.try_decide(rollout, State.ABORTED, [changed], {})
            return
        if rollout.state is not State.RUNNING or not rollout.criteria.auto:
            return
        evidence = gathered(await self.board.events(rollout), rollout.candidate_version)
        verdict, reasons = judge(rollout.criteria, evidence, rollout.task_type == "classifier")
        if verdict != "wait":
            state = State.PROMOTED if verdict == "promote" else State.ROLLED_BACK
            await self.try_decide(rollout, state, reasons, evidence.summary())

    async def try_decide(self, rollout: Rollout, state: State, reasons: list[str], evidence: dict[str, Any]) -> None:
        decision = Decision(state=state, by="auto", at=time.time(), reasons=reasons, evidence=evidence)
        with contextlib.suppress(ConflictError):  # another replica decided first
            await self.decide(rollout, decision)


def outside_change(versions: Versions, rollout: Rollout) -> str | None:
    """Why the rollout no longer compares what it was started for (None: it still does)."""
    if rollout.candidate_version not in versions.versions(rollout.name):
        return f"version {rollout.candidate_version} was deleted"
    now = versions.active_version(rollout.name)
    return None if now == rollout.active_version else f"the active version was changed to {now} by hand"
