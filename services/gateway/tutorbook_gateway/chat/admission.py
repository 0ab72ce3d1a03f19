"""Step 2 of answering: the key's rate limits. Most requests are admitted from this process's lease on
the key's bucket, with no I/O. Otherwise the check (a Redis round trip) starts as soon as the request is
valid and runs beside the steps that do not depend on it: loading the conversation, the cache lookup,
planning, and even generation, which a refusal cancels (closing the upstream request aborts it in vLLM).
A refused request never gets an answer."""

import asyncio
from collections.abc import Coroutine
from typing import Any

from tutorbook_gateway.chat.generation import Generation
from tutorbook_gateway.state.rate_limits import RateLimiter


class AdmissionCheck:
    def __init__(self, limiter: RateLimiter, owner: str) -> None:
        self._check: asyncio.Future[None] | None = None
        if not limiter.admit_from_lease(owner):
            self._check = asyncio.ensure_future(limiter.admit(owner))

    def cancel(self) -> None:
        if self._check is not None:
            self._check.cancel()

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
            if task.done() and not task.cancelled() and task.exception() is None:
                await task.result().aclose()
            raise
        return await task
