"""A byte budget per key and per team for what requests make the gateway keep: conversations, ratings and
claim records. No key can fill the shared store (and so, at Redis's memory cap, evict other keys' state).

Each budget is a token bucket of bytes in the state store: ``bytes`` at most, refilled at ``bytes`` per
``window_seconds``. Everything it covers expires within the window after its last write (a conversation a
day after its last turn; ratings and claim records the window is set to the longest of those), so what a
key keeps at any moment is at most what it wrote in the last window: at most twice its budget. A write is
charged once it is made; a key in debt is refused (429 naming the budget) whatever would keep more, until
its bucket refills. A claim record over the budget is not kept (its answer's rating then lacks the claims).
"""

from collections.abc import Callable
from dataclasses import dataclass

from tutorbook_gateway.state.backend import BucketStep, StateBackend, StateUnavailableError
from tutorbook_service.errors import RateLimitedError


@dataclass(frozen=True)
class BudgetOwner:
    """Whose budget a write counts against: the key (by its state name) and its team."""

    owner: str
    team: str


class StateBudget:
    def __init__(
        self,
        backend: StateBackend,
        key_bytes: int,
        window_seconds: float,
        own_key_bytes: Callable[[str], int] = lambda owner: 0,
        team_bytes: Callable[[str], int] = lambda team: 0,
    ) -> None:
        self._backend = backend
        self._key_bytes = key_bytes  # 0: no budget
        self.window_seconds = window_seconds
        self._own_key_bytes = own_key_bytes  # a runtime key's own (0: the default)
        self._team_bytes = team_bytes  # the team's (0: none)

    def _steps(self, who: BudgetOwner, need: float, debit: float) -> list[tuple[str, BucketStep]]:
        # Both in the team's hash slot ({team}), so one script takes from both on a Redis Cluster.
        budgets = [
            ("key", f"tb:bytes:{{{who.team}}}:key:{who.owner}", self._own_key_bytes(who.owner) or self._key_bytes)
        ]
        budgets.append(("team", f"tb:bytes:{{{who.team}}}:team", self._team_bytes(who.team)))
        return [
            (kind, BucketStep(key, capacity, capacity / self.window_seconds, need, 0.0, debit))
            for kind, key, capacity in budgets
            if capacity > 0
        ]

    async def check(self, who: BudgetOwner) -> None:
        """429 when the key or its team has spent its budget (the store down: allowed)."""
        steps = self._steps(who, need=1.0, debit=0.0)
        if not steps:
            return
        try:
            results = await self._backend.take([step for _, step in steps])
        except StateUnavailableError:
            return
        for (kind, step), result in zip(steps, results, strict=True):
            if not result.allowed:
                what, per = (
                    "bytes of kept state (conversations, ratings, claim records)",
                    f"per {self.window_seconds:g} s",
                )
                wait = max(1.0, result.retry_after_seconds)
                raise RateLimitedError(what, int(step.capacity), wait, per=per, whom=f"this {kind}")

    async def charge(self, who: BudgetOwner, size: int, kept_seconds: float = 0.0, only_within: bool = False) -> bool:
        """Charge ``size`` bytes just kept (for ``kept_seconds``: beyond the window, in proportion); False when
        the key or its team is now over its budget. ``only_within``: charge them only if the key and its team
        have budget left, checked and charged in one step (one round trip; two replicas cannot both pass the
        check on the last byte), and say whether they were: the caller keeps the write only then."""
        debit = size * max(1.0, kept_seconds / self.window_seconds)
        steps = [
            step if not only_within else BucketStep(step.key, step.capacity, step.per_second, 1.0, debit)
            for _, step in self._steps(who, need=0.0, debit=0.0 if only_within else debit)
        ]
        if not steps:
            return True
        try:
            results = await self._backend.take(steps)
        except StateUnavailableError:
            return True
        if only_within:
            return all(result.allowed for result in results)
        return all(result.remaining > 0 for result in results)

    async def keep(
        self, who: BudgetOwner, *parts: str | bytes, kept_seconds: float = 0.0, only_within: bool = False
    ) -> bool:
        """Charge what a write of ``parts`` keeps (:func:`kept_size`), as :meth:`charge`."""
        return await self.charge(who, kept_size(*parts), kept_seconds, only_within)


PART_OVERHEAD = 64  # bytes a store keeps beside each key or list item


def kept_size(*parts: str | bytes) -> int:
    """What a write keeps: its bytes, and an overhead per part (a key, a list item)."""
    return sum(len(part.encode() if isinstance(part, str) else part) + PART_OVERHEAD for part in parts)
