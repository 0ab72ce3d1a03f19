"""Rate limits per API key: requests and tokens per minute, as token buckets kept atomically in the store.

A request takes one token from the key's request bucket; the key's token bucket must not be in debt. The
tokens an answer used are charged afterwards, so a long answer can put the bucket in debt and the next
request waits until it has refilled.

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

from tutorbook_common.errors import RateLimitedError, ServiceUnavailableError
from tutorbook_gateway.state.backend import BucketStep, StateBackend, StateUnavailableError

SECONDS_PER_MINUTE = 60.0
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

    def admits(self, unpaid_tokens: int, now: float) -> bool:
        return self.requests >= 1 and now < self.expires and self.token_level - unpaid_tokens >= 1


class RateLimiter:
    def __init__(
        self,
        backend: StateBackend,
        default: Limits,
        overrides: dict[str, Limits],
        fail_open: bool,
        lease_seconds: float = 1.0,
        on_store_error: Callable[[], None] = lambda: None,
    ) -> None:
        self._backend = backend
        self._default = default
        self._overrides = overrides
        self.fail_open = fail_open
        self._lease_seconds = lease_seconds
        self._on_store_error = on_store_error  # counts each admission the store could not check
        self._leases: dict[str, Lease] = {}
        self._pending: dict[str, int] = {}  # tokens used per key, not yet charged

    def limits_for(self, owner: str) -> Limits:
        return self._overrides.get(owner, self._default)

    def admit_from_lease(self, owner: str) -> bool:
        """Admit without a round trip when the key is unlimited or this process holds a lease with room."""
        limits = self.limits_for(owner)
        if not limits.requests_per_minute and not limits.tokens_per_minute:
            return True
        lease = self._leases.get(owner)
        if lease is None or not lease.admits(self._pending.get(owner, 0), time.monotonic()):
            return False
        lease.requests -= 1
        return True

    async def admit(self, owner: str) -> None:
        """Raise 429 (with how long to wait) when the key is over a limit; a lease when one can be had."""
        if self.admit_from_lease(owner):
            return
        await self._take_lease(owner)

    async def _take_lease(self, owner: str) -> None:
        limits = self.limits_for(owner)
        unused = self._return_lease(owner)
        debit = self._pending.pop(owner, 0)
        requests = self._request_step(owner, limits, unused)
        tokens = self._token_step(owner, limits, debit)
        steps = [step for step in (tokens, requests) if step is not None]
        try:
            results = await self._backend.take(steps)
        except StateUnavailableError as exc:
            self._pending[owner] = self._pending.get(owner, 0) + debit
            self._on_store_error()
            if self.fail_open:
                log.warning("state store unavailable, request admitted without a rate-limit check: %s", exc)
                return
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

    def _return_lease(self, owner: str) -> int:
        lease = self._leases.pop(owner, None)
        return 0 if lease is None or lease.requests <= 0 else lease.requests

    def _request_step(self, owner: str, limits: Limits, unused: int) -> BucketStep | None:
        if not limits.requests_per_minute:
            return None
        per_second = limits.requests_per_minute / SECONDS_PER_MINUTE
        block = max(1, math.ceil(per_second * self._lease_seconds))
        key = f"tb:rl:req:{owner}"
        return BucketStep(key, limits.requests_per_minute, per_second, 1, block, -unused, partial=True)

    def _token_step(self, owner: str, limits: Limits, debit: int) -> BucketStep | None:
        if not limits.tokens_per_minute:
            return None
        per_minute = limits.tokens_per_minute
        return BucketStep(f"tb:rl:tok:{owner}", per_minute, per_minute / SECONDS_PER_MINUTE, 1, 0, debit)

    def charge_tokens(self, owner: str, tokens: int) -> None:
        """Note the tokens an answer used; they are charged with the key's next lease or flush."""
        if self.limits_for(owner).tokens_per_minute and tokens > 0:
            self._pending[owner] = self._pending.get(owner, 0) + tokens

    async def flush(self) -> None:
        """Charge every key's noted tokens and give back what expired leases did not use (a background
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
            steps.append(BucketStep(f"tb:rl:tok:{owner}", per_minute, per_minute / SECONDS_PER_MINUTE, 0, 0, tokens))
        if unused_requests and limits.requests_per_minute:
            per_minute = limits.requests_per_minute
            per_second = per_minute / SECONDS_PER_MINUTE
            steps.append(BucketStep(f"tb:rl:req:{owner}", per_minute, per_second, 0, 0, -unused_requests))
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
