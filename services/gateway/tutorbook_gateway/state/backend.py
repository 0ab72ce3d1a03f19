"""The small set of storage operations the gateway's state needs, as a protocol with two implementations:
:class:`~tutorbook_gateway.state.redis_backend.RedisBackend` (shared by every replica) and
:class:`~tutorbook_gateway.state.memory.MemoryBackend` (one process, the embedded default).

Every operation either succeeds or raises :class:`StateUnavailableError`; callers decide what degrading
means for them (a cache miss, a conversation without history, a rate limit that fails open or closed).
"""

from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol


class StateUnavailableError(Exception):
    """The state store did not answer (Redis down, timed out, or refused the command)."""


class UnconfirmedWriteError(StateUnavailableError):
    """The write is on the primary, but not on the replicas asked for: a failover may or may not lose it."""


@dataclass
class RoundTrips:
    """The shared store's round trips made on one chat request's path (a metric: the capacity model's
    Redis cost per request). Work a request leaves to the background is not counted."""

    count: int = 0


ROUND_TRIPS: ContextVar[RoundTrips | None] = ContextVar("tutorbook_state_round_trips", default=None)


def count_round_trip() -> None:
    trips = ROUND_TRIPS.get()
    if trips is not None:
        trips.count += 1


@dataclass(frozen=True)
class BucketStep:
    """One token bucket in an all-or-nothing take: refill, subtract ``debit`` (tokens already spent: the
    bucket may go into debt; a negative debit gives tokens back, up to the capacity), then take ``cost`` if
    ``need`` is there. ``partial``: take as much of ``cost`` as the bucket holds (whole tokens, at least
    ``need``) instead of all of it."""

    key: str
    capacity: float
    per_second: float
    need: float  # 0: always take
    cost: float
    debit: float = 0.0
    partial: bool = False


@dataclass(frozen=True)
class BucketResult:
    """A token-bucket step: whether it was allowed, how long until it would be, and what is left."""

    allowed: bool
    retry_after_seconds: float
    remaining: float
    taken: float = 0.0


class StateBackend(Protocol):
    name: str

    async def get(self, key: str) -> bytes | None: ...

    async def get_many(self, keys: list[str]) -> list[bytes | None]: ...

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None: ...

    async def add(self, key: str, value: bytes, ttl_seconds: float, replicas: int = 0) -> bool:
        """Set only when the key is absent; False when it was there. With ``replicas`` (Redis behind
        Sentinel), a set key must also be on that many replicas: else :class:`UnconfirmedWriteError`."""
        ...

    async def delete(self, key: str) -> None: ...

    async def push(self, key: str, values: list[bytes], keep_last: int, ttl_seconds: float) -> None:
        """Append to a list, keep only its last ``keep_last`` items, and renew its TTL."""
        ...

    async def items(self, key: str, last: int) -> list[bytes]:
        """The last ``last`` items of a list, oldest first."""
        ...

    async def take(self, steps: list[BucketStep]) -> list[BucketResult]:
        """Atomically refill every bucket, then take from all of them only if each has what it needs.
        The results say, per bucket, whether it had enough and how long until it would."""
        ...

    def subscribe(self, channel: str) -> AsyncIterator[bytes | None]:
        """Messages published on ``channel``: first ``None`` once the subscription is in place (read the
        current state then), then each message. Raises StateUnavailableError when the store goes away."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
