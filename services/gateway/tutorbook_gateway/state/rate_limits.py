"""Rate limits per API key: requests and tokens per minute, as token buckets kept atomically in the store.

A request takes one token from the key's request bucket, and reserves from the key's token bucket what it
may cost (its prompt, estimated, plus its ``max_tokens``); when it ends, however it ends, the difference
between the reservation and what it used is given back (or, rarely, charged). A bucket in debt expires
only once it would have refilled, so waiting out a debt is the only way to clear it.

Leases keep the store off most requests' path. A process that admits a key takes a lease: a block of
request tokens (about ``lease_seconds`` worth of the key's rate) from the shared bucket in one atomic
call, and admits that key's next requests from it without a round trip while it lasts. Tokens are only
ever taken from the shared bucket, so replicas together never admit more than the limit; what a lease
did not use goes back at the next flush (every second), so another replica may be refused for up to a
second while one holds tokens it does not need. Token charges ride on the key's next lease, or on the
flush, so that other replicas see them too.
"""

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from tutorbook_gateway.state.backend import BucketStep, StateBackend, StateUnavailableError
from tutorbook_service.errors import RateLimitedError, ServiceUnavailableError

SECONDS_PER_MINUTE = 60.0


def request_bucket(owner: str) -> str:
    """The key's request bucket; its token bucket shares the hash slot (``{owner}``), so that one script
    can take from both on a Redis Cluster."""
    return f"tb:rl:{{{owner}}}:req"


def token_bucket(owner: str) -> str:
    return f"tb:rl:{{{owner}}}:tok"


log = logging.getLogger("tutorbook.rate_limits")


class Limits(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    requests_per_minute: int = 0  # 0: unlimited
    tokens_per_minute: int = 0


def parse_overrides(raw: str) -> dict[str, Limits]:
    """``{"<key fingerprint>": {"requests_per_minute": 60, "tokens_per_minute": 20000}, ...}``"""
    if not raw.strip():
        return {}
    return msgspec.json.decode(raw, type=dict[str, Limits])


@dataclass
class Lease:
    """Request tokens this process took for a key, and the key's token bucket as the store last said."""

    requests: int
    token_level: float
    expires: float  # monotonic time

    def admits(self, unpaid_tokens: int, reserve: int, now: float) -> bool:
        return self.requests >= 1 and now < self.expires and self.token_level - unpaid_tokens >= max(1, reserve)


class RateLimiter:
    def __init__(
        self,
        backend: StateBackend,
        default: Limits,
        overrides: dict[str, Limits],
        fail_open: bool,
        lease_seconds: float = 1.0,
        on_store_error: Callable[[], None] = lambda: None,
        own_limits: Callable[[str], Limits | None] = lambda owner: None,
    ) -> None:
        self._backend = backend
        self._default = default
        self._overrides = overrides
        self._own_limits = own_limits  # a runtime key's, set when it was made (0: the default)
        self.fail_open = fail_open
        self._lease_seconds = lease_seconds
        self._on_store_error = on_store_error  # counts each admission the store could not check
        self._leases: dict[str, Lease] = {}
        self._pending: dict[str, int] = {}  # tokens used per key, not yet charged

    def limits_for(self, owner: str) -> Limits:
        return self._own_limits(owner) or self._overrides.get(owner, self._default)

    def reservation(self, owner: str, tokens: int) -> int:
        """What a request that may cost ``tokens`` reserves: none without a token limit; never more than
        the bucket holds, so that a large request can still go once the bucket is full."""
        per_minute = self.limits_for(owner).tokens_per_minute
        return min(tokens, per_minute) if per_minute else 0

    def admit_from_lease(self, owner: str, reserve: int = 0) -> bool:
        """Admit without a round trip when the key is unlimited or this process holds a lease with room;
        ``reserve`` (from :meth:`reservation`) is then charged to the key with the next settlement."""
        limits = self.limits_for(owner)
        if not limits.requests_per_minute and not limits.tokens_per_minute:
            return True
        lease = self._leases.get(owner)
        if lease is None or not lease.admits(self._pending.get(owner, 0), reserve, time.monotonic()):
            return False
        lease.requests -= 1
        if reserve:
            self._pending[owner] = self._pending.get(owner, 0) + reserve
        return True

    async def admit(self, owner: str, reserve: int = 0) -> int:
        """Raise 429 (with how long to wait) when the key is over a limit; a lease when one can be had.
        Returns the tokens reserved (0 when the store was down and limits fail open)."""
        if self.admit_from_lease(owner, reserve):
            return reserve
        return await self._take_lease(owner, reserve)

    async def _take_lease(self, owner: str, reserve: int) -> int:
        limits = self.limits_for(owner)
        unused = self._return_lease(owner)
        debit = self._pending.pop(owner, 0)
        requests = self._request_step(owner, limits, unused)
        tokens = self._token_step(owner, limits, debit, reserve)
        steps = [step for step in (tokens, requests) if step is not None]
        try:
            results = await self._backend.take(steps)
        except StateUnavailableError as exc:
            self._pending[owner] = self._pending.get(owner, 0) + debit
            self._on_store_error()
            if self.fail_open:
                log.warning("state store unavailable, request admitted without a rate-limit check: %s", exc)
                return 0
            raise ServiceUnavailableError("rate limiting is unavailable (state store down); try again") from exc
        for step, result in zip(steps, results, strict=True):
            if not result.allowed:
                limit = "tokens" if step is tokens else "requests"
                per_minute = limits.tokens_per_minute if limit == "tokens" else limits.requests_per_minute
                raise RateLimitedError(limit, per_minute, result.retry_after_seconds)
        granted = int(results[-1].taken) if requests is not None else math.inf
        level = results[0].remaining if tokens is not None else math.inf
        lease = Lease(int(min(granted, 1e9)) - 1, level, time.monotonic() + self._lease_seconds)
        self._leases[owner] = lease
        return reserve

    def _return_lease(self, owner: str) -> int:
        lease = self._leases.pop(owner, None)
        return 0 if lease is None or lease.requests <= 0 else lease.requests

    def _request_step(self, owner: str, limits: Limits, unused: int) -> BucketStep | None:
        if not limits.requests_per_minute:
            return None
        per_second = limits.requests_per_minute / SECONDS_PER_MINUTE
        block = max(1, math.ceil(per_second * self._lease_seconds))
        return BucketStep(
            request_bucket(owner), limits.requests_per_minute, per_second, 1, block, -unused, partial=True
        )

    def _token_step(self, owner: str, limits: Limits, debit: int, reserve: int = 0) -> BucketStep | None:
        if not limits.tokens_per_minute:
            return None
        per_minute, need = limits.tokens_per_minute, max(1, reserve)
        return BucketStep(token_bucket(owner), per_minute, per_minute / SECONDS_PER_MINUTE, need, reserve, debit)

    def settle(self, owner: str, reserved: int, used: int) -> None:
        """A request has ended: charge what it used beyond its reservation, or give back what it did not
        use (with the key's next lease or flush: no round trip of its own)."""
        if self.limits_for(owner).tokens_per_minute and used != reserved:
            self._pending[owner] = self._pending.get(owner, 0) + used - reserved

    async def flush(self) -> None:
        """Settle every key's noted tokens and give back what expired leases did not use (a background
        task runs this every second)."""
        now = time.monotonic()
        expired = [owner for owner, lease in self._leases.items() if lease.expires <= now]
        unused = {owner: self._return_lease(owner) for owner in expired}
        pending, self._pending = self._pending, {}
        for owner in set(pending) | {owner for owner, count in unused.items() if count}:
            await self._settle(owner, pending.get(owner, 0), unused.get(owner, 0))

    async def _settle(self, owner: str, tokens: int, unused_requests: int) -> None:
        """One atomic call: the key's token charges, and its unused lease back to the shared bucket."""
        limits = self.limits_for(owner)
        steps = []
        if tokens and limits.tokens_per_minute:
            per_minute = limits.tokens_per_minute
            steps.append(BucketStep(token_bucket(owner), per_minute, per_minute / SECONDS_PER_MINUTE, 0, 0, tokens))
        if unused_requests and limits.requests_per_minute:
            per_minute = limits.requests_per_minute
            per_second = per_minute / SECONDS_PER_MINUTE
            steps.append(BucketStep(request_bucket(owner), per_minute, per_second, 0, 0, -unused_requests))
        if not steps:
            return
        try:
            await self._backend.take(steps)
        except StateUnavailableError:
            self._pending[owner] = self._pending.get(owner, 0) + tokens
            raise

    async def flush_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await self.flush()
            except StateUnavailableError as exc:
                log.warning("token charges kept for later, state store unavailable: %s", exc)
