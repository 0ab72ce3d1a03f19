"""How the chat path survives a state store that is down: every state failure is logged, counted by
component, and degraded (no cache, no history); nothing a user waits for fails because of it.

The chat path is handed its stores wrapped here, so its steps never see a store's failure: a session's
history is empty, a cache lookup misses, what would have been kept is not.
"""

import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from tutorbook_gateway.metrics import GatewayMetrics
from tutorbook_gateway.state.backend import StateUnavailableError
from tutorbook_gateway.state.cache import CachedAnswer, ResponseCache
from tutorbook_gateway.state.conversations import Conversations, Turn
from tutorbook_gateway.state.feedback import ClaimsOutcome, FeedbackStore

log = logging.getLogger("tutorbook.state")
T = TypeVar("T")


async def degraded(component: str, operation: Awaitable[T], metrics: GatewayMetrics) -> T | None:
    """Run a state operation; when the store is down, log and count it and carry on without it."""
    try:
        return await operation
    except StateUnavailableError as exc:
        metrics.state_errors.labels(component=component).inc()
        log.warning("state store unavailable, degrading %s: %s", component, exc)
        return None


async def quietly(what: str, operation: Awaitable[Any]) -> None:
    """Best-effort background work: a failure is logged, never raised."""
    try:
        await operation
    except Exception as exc:  # noqa: BLE001 - nothing waits for this
        log.warning("%s not updated: %s", what, exc)


class DegradingConversations:
    """Sessions for the chat path: no history, and turns not kept, while the store is down."""

    def __init__(self, conversations: Conversations, metrics: GatewayMetrics) -> None:
        self._conversations = conversations
        self._metrics = metrics

    async def history(self, owner: str, session_id: str) -> list[Turn]:
        return await degraded("sessions", self._conversations.history(owner, session_id), self._metrics) or []

    async def record(self, owner: str, session_id: str, turns: list[Turn]) -> None:
        await degraded("sessions", self._conversations.record(owner, session_id, turns), self._metrics)


class DegradingCache:
    """The response cache for the chat path: a miss, and nothing stored, while the store is down."""

    def __init__(self, cache: ResponseCache, metrics: GatewayMetrics) -> None:
        self._cache = cache
        self._metrics = metrics

    async def lookup(self, key: str) -> CachedAnswer | None:
        return await degraded("cache", self._cache.lookup(key), self._metrics)

    async def lookup_with_version(self, key: str) -> tuple[CachedAnswer | None, int | None]:
        found = await degraded("cache", self._cache.lookup_with_version(key), self._metrics)
        return found or (None, None)

    async def store(self, key: str, answer: CachedAnswer) -> None:
        await degraded("cache", self._cache.store(key, answer), self._metrics)


class DegradingClaimsOutcomes:
    """How the claim check found each answer, kept for its feedback unless the store is down."""

    def __init__(self, feedback: FeedbackStore, metrics: GatewayMetrics) -> None:
        self._feedback = feedback
        self._metrics = metrics

    async def remember_claims(self, response_id: str, outcome: ClaimsOutcome) -> None:
        await degraded("feedback", self._feedback.remember_claims(response_id, outcome), self._metrics)
