"""Step 2 of answering: may this key have this answer now? Three limits, all per API key:

- requests in flight in this process (``max_in_flight_per_key``): checked at once, 429 when full;
- requests per minute and tokens per minute (:class:`~tutorbook_gateway.state.rate_limits.RateLimiter`):
  the request reserves what it may cost (its prompt, estimated, plus its ``max_tokens``), and settles when
  it ends, however it ends (done, failed, abandoned).

Most requests are admitted from this process's lease on the key's buckets, with no I/O. Otherwise the
check (a Redis round trip) runs beside the steps that do not depend on it: loading the conversation,
the cache lookup, planning, and even generation, which a refusal cancels (closing the upstream request
aborts it in vLLM). A refused request never gets an answer.
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from tutorbook_gateway.chat.generation import Generation
from tutorbook_gateway.state.conversations import CHARS_PER_TOKEN
from tutorbook_service.errors import RateLimitedError

IN_FLIGHT_RETRY_SECONDS = 1.0


class Limiter(Protocol):
    """The keys' rate limits (:class:`~tutorbook_gateway.state.rate_limits.RateLimiter`)."""

    def reservation(self, owner: str, tokens: int) -> int:
        """What a request that may cost ``tokens`` reserves."""
        ...

    def admit_from_lease(self, owner: str, reserve: int = 0) -> bool:
        """Admitted with no round trip (this process's lease on the key's buckets has room)?"""
        ...

    async def admit(self, owner: str, reserve: int = 0) -> int:
        """Admit from the shared buckets (429 when a limit is reached); what was reserved."""
        ...

    def settle(self, owner: str, reserved: int, used: int) -> None:
        """The request ended having used ``used`` tokens of the ``reserved``."""
        ...


class InFlight:
    """Requests of each key being answered by this process now."""

    def __init__(self, max_per_key: int, own_limit: Callable[[str], int] = lambda owner: 0) -> None:
        self._max_per_key = max_per_key
        self._own_limit = own_limit  # a runtime key's own (0: the default)
        self._counts: dict[str, int] = {}

    def enter(self, owner: str) -> None:
        count = self._counts.get(owner, 0)
        limit = self._own_limit(owner) or self._max_per_key
        if limit and count >= limit:
            raise RateLimitedError("requests in flight", limit, IN_FLIGHT_RETRY_SECONDS, per="at once")
        self._counts[owner] = count + 1

    def leave(self, owner: str) -> None:
        count = self._counts.pop(owner, 0) - 1
        if count > 0:
            self._counts[owner] = count


class AdmissionCheck:
    def __init__(self, limiter: Limiter, in_flight: InFlight, owner: str, prompt_tokens: int, max_tokens: int):
        in_flight.enter(owner)
        self._limiter, self._in_flight, self._owner = limiter, in_flight, owner
        self.prompt_tokens = prompt_tokens
        reserve = limiter.reservation(owner, prompt_tokens + max_tokens)
        self._reserved = reserve
        self._check: asyncio.Future[int] | None = None
        if not limiter.admit_from_lease(owner, reserve):
            self._check = asyncio.ensure_future(limiter.admit(owner, reserve))
        self._open = True

    def release(self, used_tokens: int) -> None:
        """The request has ended: it leaves the in-flight count and settles its reservation."""
        if not self._open:
            return
        self._open = False
        self._in_flight.leave(self._owner)
        if self._check is not None and not (self._check.done() and not self._check.cancelled()):
            self._check.cancel()
            return  # never admitted: nothing was reserved
        if self._check is not None and self._check.exception() is not None:
            return
        reserved = self._reserved if self._check is None else self._check.result()
        self._limiter.settle(self._owner, reserved, used_tokens)

    def release_answer(self, usage: dict[str, Any], pieces: list[str], generated: int, cached: bool) -> None:
        """The answer has ended: it is charged what it used, delivered or not (a cached answer costs nothing)."""
        total = int(usage.get("total_tokens") or 0)
        self.release(0 if cached else used_tokens(total, pieces, generated, self.prompt_tokens))

    async def gate(self, generating: Coroutine[Any, Any, Generation]) -> Generation:
        """Start ``generating`` now; hand it over only once the key is admitted (429, or 503 when the
        store is down and limits fail closed)."""
        if self._check is None:
            return await generating
        task: asyncio.Future[Generation] = asyncio.ensure_future(generating)
        try:
            await self._check
        except BaseException:
            task.cancel()
            task.add_done_callback(close_unwanted)  # a generation that still arrives is closed, not leaked
            raise
        return await task


def used_tokens(reported_total: int, pieces: list[str], generated: int, prompt_tokens: int) -> int:
    """What an answer cost: vLLM's count; for a stream that ended early (no usage came), its prompt and
    what vLLM generated, sent or not: the pieces it streamed (a token each), or what was sent when more
    (a piece through the runaway guard is a sentence)."""
    if reported_total or not (pieces or generated):
        return reported_total
    sent = max(len(pieces), sum(len(piece) for piece in pieces) // CHARS_PER_TOKEN)
    return prompt_tokens + max(sent, generated)


def close_unwanted(task: "asyncio.Future[Generation]") -> None:
    """Close a generation nobody will read (its slot and its vLLM request are given back)."""
    if not task.cancelled() and task.exception() is None:
        closing = asyncio.ensure_future(task.result().aclose())
        closing.add_done_callback(lambda done: done.cancelled() or done.exception())
