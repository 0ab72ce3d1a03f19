"""Rate limits per API key: requests and tokens per minute, as token buckets kept atomically in the store.

A request takes one token from the key's request bucket. The token bucket is checked before (it must not
be in debt) and charged after the answer with the tokens actually used, so a long answer can put it in
debt and the next request waits until it has refilled.
"""

from dataclasses import dataclass

import msgspec

from tutorbook_common.errors import RateLimitedError, ServiceUnavailableError
from tutorbook_gateway.state.backend import BucketStep, StateBackend, StateUnavailableError

SECONDS_PER_MINUTE = 60.0


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

    def limits_for(self, owner: str) -> Limits:
        return self._overrides.get(owner, self._default)

    async def admit(self, owner: str) -> Admission:
        """Raise 429 (with how long to wait) when the key is over a limit: one atomic call for both."""
        limits = self.limits_for(owner)
        steps = []
        if limits.tokens_per_minute:  # must not be in debt; the answer's tokens are charged afterwards
            steps.append(self._step(f"tb:rl:tok:{owner}", limits.tokens_per_minute, need=1, cost=0))
        if limits.requests_per_minute:
            steps.append(self._step(f"tb:rl:req:{owner}", limits.requests_per_minute, need=1, cost=1))
        if not steps:
            return Admission(False)
        try:
            results = await self._backend.take(steps)
        except StateUnavailableError as exc:
            if self.fail_open:
                return Admission(False)
            raise ServiceUnavailableError("rate limiting is unavailable (state store down); try again") from exc
        for step, result in zip(steps, results, strict=True):
            if not result.allowed:
                limit = "tokens" if ":tok:" in step.key else "requests"
                per_minute = limits.tokens_per_minute if limit == "tokens" else limits.requests_per_minute
                raise RateLimitedError(limit, per_minute, result.retry_after_seconds)
        return Admission(True)

    async def charge_tokens(self, owner: str, tokens: int) -> None:
        limits = self.limits_for(owner)
        if limits.tokens_per_minute and tokens > 0:
            await self._backend.take([self._step(f"tb:rl:tok:{owner}", limits.tokens_per_minute, need=0, cost=tokens)])

    @staticmethod
    def _step(key: str, per_minute: int, need: float, cost: float) -> BucketStep:
        return BucketStep(key, per_minute, per_minute / SECONDS_PER_MINUTE, need, cost)
