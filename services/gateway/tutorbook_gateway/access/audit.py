"""The audit log of admin actions: who, when, what, on what, and how it ended. Bounded (the newest
``keep`` entries), readable by admins (``GET /v1/admin/audit``), never holding a secret: keys are named by
their prefix, callers by their owner name."""

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from tutorbook_gateway.access.directory import Caller
from tutorbook_gateway.access.records import RecordStore
from tutorbook_gateway.state.backend import StateUnavailableError, UnconfirmedWriteError
from tutorbook_service.errors import ServiceError, ServiceUnavailableError

log = logging.getLogger("tutorbook.audit")


class AuditEntry(msgspec.Struct, frozen=True):
    time: float
    actor: str  # the caller's owner name (key-<id>, or a bootstrap key's fingerprint)
    team: str
    action: str  # e.g. "key.create", "adapter.upload", "documents.ingest"
    target: str
    outcome: str  # "ok", or "refused: <status> <message>"
    details: dict[str, Any] = msgspec.field(default_factory=dict)


def unavailable_message(exc: StateUnavailableError) -> str:
    if isinstance(exc, UnconfirmedWriteError):
        return (
            "the change was made on the records' Redis primary but no replica confirmed it in time, so a "
            "failover may undo it: list the keys or teams to see it before repeating it (a key made this way "
            "never showed its secret: revoke it)"
        )
    return "the key and team records' store did not take the change; try again"


class AuditLog:
    def __init__(self, records: RecordStore, keep: int, clock: Callable[[], float] = time.time) -> None:
        self._records = records
        self._keep = keep
        self._clock = clock

    async def record(self, caller: Caller, action: str, target: str, outcome: str, details: dict[str, Any]) -> None:
        entry = AuditEntry(self._clock(), caller.owner, caller.team, action, target, outcome, details)
        try:
            await self._records.append_audit(msgspec.json.encode(entry), self._keep)
        except StateUnavailableError as exc:  # the action happened (or not) either way: say it in the logs
            log.error("audit entry not stored: %s: %s", exc, msgspec.json.encode(entry).decode())

    async def newest(self, count: int, action: str | None = None) -> list[AuditEntry]:
        entries = [msgspec.json.decode(raw, type=AuditEntry) for raw in await self._records.audit(self._keep)]
        return [entry for entry in entries if action is None or entry.action.startswith(action)][:count]

    @asynccontextmanager
    async def action(self, caller: Caller, action: str, target: str) -> AsyncIterator[dict[str, Any]]:
        """Record the action when it ends: ``ok``, or refused with the error the caller got. The body fills
        in the details (never a secret)."""
        details: dict[str, Any] = {}
        try:
            try:
                yield details
            except StateUnavailableError as exc:  # the records' store: down, or the write not on its replicas
                log.error("%s %s: %s", action, target, exc)  # the store's own words stay in the logs
                raise ServiceUnavailableError(unavailable_message(exc)) from exc
        except ServiceError as exc:
            await self.record(caller, action, target, f"refused: {exc.status_code} {exc.message}", details)
            raise
        await self.record(caller, action, target, "ok", details)
