"""Feedback on answers: which route and adapter produced a response, and what the user thought of it."""

import time
from typing import Literal

import msgspec

from tutorbook_gateway.state.backend import StateBackend
from tutorbook_service.errors import ConflictError

Rating = Literal["up", "down"]
# How the claim check found an answer written from passages, kept beside its id until feedback may come.
ClaimsOutcome = Literal["supported", "unsupported", "withheld"]
RECENT_FEEDBACK = 10_000
MAX_COMMENT_CHARS = 2000


class ResponseRecord(msgspec.Struct, frozen=True):
    """What produced an answer, so that feedback on it can name it: carried in the answer's signed id
    (:class:`~tutorbook_gateway.chat.completions.ResponseIds`), never stored per answer."""

    route: str
    adapter: str | None  # "name@version"
    model: str
    created: int
    team: str = ""  # whose keys may rate it (ids minted before teams: any)


class FeedbackRecord(msgspec.Struct, frozen=True):
    response_id: str
    rating: Rating
    comment: str | None
    route: str
    adapter: str | None
    model: str
    created: int
    claims: ClaimsOutcome | None = None  # None: the answer was not checked (not written from passages)


class FeedbackStore:
    def __init__(self, backend: StateBackend, ttl_seconds: float) -> None:
        self._backend = backend
        self._ttl = ttl_seconds

    async def record(
        self, response_id: str, response: ResponseRecord, rating: Rating, comment: str | None
    ) -> FeedbackRecord:
        """Once per answer: a second rating of the same answer is refused (409)."""
        claims = await self._backend.get(claims_key(response_id))
        feedback = FeedbackRecord(
            response_id, rating, comment, response.route, response.adapter, response.model, int(time.time()),
            None if claims is None else msgspec.json.decode(claims, type=ClaimsOutcome),
        )  # fmt: skip
        encoded = msgspec.json.encode(feedback)
        if not await self._backend.add(f"tb:feedback:{response_id}", encoded, self._ttl):
            raise ConflictError(f"feedback on {response_id!r} was already recorded", param="response_id")
        await self._backend.push("tb:feedback", [encoded], RECENT_FEEDBACK, self._ttl)
        return feedback

    async def remember_claims(self, response_id: str, outcome: ClaimsOutcome) -> None:
        """How the claim check found the answer, so its feedback can say; kept as long as feedback may come."""
        await self._backend.set(claims_key(response_id), msgspec.json.encode(outcome), self._ttl)

    async def recent(self, limit: int) -> list[FeedbackRecord]:
        raw = await self._backend.items("tb:feedback", limit)
        return [msgspec.json.decode(item, type=FeedbackRecord) for item in reversed(raw)]


def claims_key(response_id: str) -> str:
    return f"tb:answer-claims:{response_id}"
