"""Feedback on answers: which route and adapter produced a response, and what the user thought of it."""

import asyncio
import time
from collections.abc import Awaitable
from typing import Literal

import msgspec

from tutorbook_common.errors import ConflictError, NotFoundError
from tutorbook_gateway.state.backend import StateBackend

Rating = Literal["up", "down"]
RECENT_FEEDBACK = 10_000
MAX_COMMENT_CHARS = 2000


class ResponseRecord(msgspec.Struct, frozen=True):
    """Remembered for each answer, so that feedback on it can name what produced it."""

    route: str
    adapter: str | None  # "name@version"
    model: str
    created: int


class FeedbackRecord(msgspec.Struct, frozen=True):
    response_id: str
    rating: Rating
    comment: str | None
    route: str
    adapter: str | None
    model: str
    created: int


class FeedbackStore:
    def __init__(self, backend: StateBackend, ttl_seconds: float) -> None:
        self._backend = backend
        self._ttl = ttl_seconds
        self._writing: dict[str, asyncio.Task[None]] = {}  # response records on their way to the store

    async def remember_response(self, response_id: str, record: ResponseRecord) -> None:
        await self._backend.set(f"tb:response:{response_id}", msgspec.json.encode(record), self._ttl)

    def remember_response_soon(self, response_id: str, write: Awaitable[None]) -> None:
        """Write a response's record off the response's path; feedback arriving first waits for it."""
        task = asyncio.ensure_future(write)
        self._writing[response_id] = task
        task.add_done_callback(lambda _: self._writing.pop(response_id, None))

    async def record(self, response_id: str, rating: Rating, comment: str | None) -> FeedbackRecord:
        writing = self._writing.get(response_id)
        if writing is not None:
            await writing
        raw = await self._backend.get(f"tb:response:{response_id}")
        if raw is None:
            raise NotFoundError(f"no answer with id {response_id!r} (or it is too old)", param="response_id")
        response = msgspec.json.decode(raw, type=ResponseRecord)
        feedback = FeedbackRecord(
            response_id, rating, comment, response.route, response.adapter, response.model, int(time.time())
        )
        encoded = msgspec.json.encode(feedback)
        if not await self._backend.add(f"tb:feedback:{response_id}", encoded, self._ttl):
            raise ConflictError(f"feedback on {response_id!r} was already recorded", param="response_id")
        await self._backend.push("tb:feedback", [encoded], RECENT_FEEDBACK, self._ttl)
        return feedback

    async def recent(self, limit: int) -> list[FeedbackRecord]:
        raw = await self._backend.items("tb:feedback", limit)
        return [msgspec.json.decode(item, type=FeedbackRecord) for item in reversed(raw)]
