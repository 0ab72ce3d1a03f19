"""Rate limits per API key: requests and tokens per minute, as token buckets kept atomically in the store.

A request takes one token from the key's request bucket. The token bucket must not be in debt when a
request is admitted; the tokens an answer used are charged afterwards, so a long answer can put it in
debt and the next request waits until it has refilled. Those charges are not a round trip of their own:
they ride on the key's next admission (one atomic call), and :meth:`RateLimiter.flush` sends what is left
every second so that other replicas see them too.
"""

import asyncio
import logging
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


@dataclass(frozen=True)
class Admission:
    limited: bool  # False: unlimited, or the store was down and limits fail open


class RateLimiter:
    def __init__(self, backend: StateBackend, default: Limits, overrides: dict[str, Limits], fail_open: bool) -> None:
        self._backend = backend
        self._default = default
        self._overrides = overrides
        self.fail_open = fail_open
        self._pending: dict[str, int] = {}  # tokens used per key, not yet charged

    def limits_for(self, owner: str) -> Limits:
        return self._overrides.get(owner, self._default)

    async def admit(self, owner: str) -> Admission:
        """Raise 429 (with how long to wait) when the key is over a limit: one atomic call for both."""
        limits = self.limits_for(owner)
        steps = []
        debit = self._pending.pop(owner, 0)
        if limits.tokens_per_minute:
            steps.append(self._step(f"tb:rl:tok:{owner}", limits.tokens_per_minute, need=1, cost=0, debit=debit))
        if limits.requests_per_minute:
            steps.append(self._step(f"tb:rl:req:{owner}", limits.requests_per_minute, need=1, cost=1))
        if not steps:
            return Admission(False)
        try:
            results = await self._backend.take(steps)
        except StateUnavailableError as exc:
            self._pending[owner] = self._pending.get(owner, 0) + debit
            if self.fail_open:
                return Admission(False)
            raise ServiceUnavailableError("rate limiting is unavailable (state store down); try again") from exc
        for step, result in zip(steps, results, strict=True):
            if not result.allowed:
                limit = "tokens" if ":tok:" in step.key else "requests"
                per_minute = limits.tokens_per_minute if limit == "tokens" else limits.requests_per_minute
                raise RateLimitedError(limit, per_minute, result.retry_after_seconds)
        return Admission(True)

    def charge_tokens(self, owner: str, tokens: int) -> None:
        """Note the tokens an answer used; they are charged with the key's next admission or flush."""
        if self.limits_for(owner).tokens_per_minute and tokens > 0:
            self._pending[owner] = self._pending.get(owner, 0) + tokens

    async def flush(self) -> None:
        """Charge every key's noted tokens now (a background task runs this every second)."""
        pending, self._pending = self._pending, {}
        for owner, tokens in pending.items():
            step = self._step(f"tb:rl:tok:{owner}", self.limits_for(owner).tokens_per_minute, 0, 0, debit=tokens)
            try:
                await self._backend.take([step])
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

    @staticmethod
    def _step(key: str, per_minute: int, need: float, cost: float, debit: float = 0.0) -> BucketStep:
        return BucketStep(key, per_minute, per_minute / SECONDS_PER_MINUTE, need, cost, debit)
