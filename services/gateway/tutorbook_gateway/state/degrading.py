"""How the chat path survives a state store that is down: every state failure is logged, counted by
component, and degraded (no cache, no history); nothing a user waits for fails because of it."""

import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from tutorbook_gateway.metrics import GatewayMetrics
from tutorbook_gateway.state.backend import StateUnavailableError

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
