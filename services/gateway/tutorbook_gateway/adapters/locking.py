"""One change at a time per adapter name, across every gateway replica: uploads, activations, rollbacks
and deletions of a name take a lock in the shared state store (Redis), so the version left active is
always one that was loaded. A lock outlives a crashed holder only until its TTL. Behind Redis Sentinel a
lock can be held only once ``replicas`` replicas have it too, so that a failover cannot hand the name to a
second change while the first runs (docs/state.md)."""

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tutorbook_gateway.state.backend import StateBackend, StateUnavailableError, UnconfirmedWriteError
from tutorbook_service.errors import ConflictError, ServiceUnavailableError

log = logging.getLogger("tutorbook.adapters")
LOCK_TTL_SECONDS = 300.0  # longer than any load on every replica takes
POLL_SECONDS = 0.05


class AdapterLocks:
    def __init__(self, backend: StateBackend, wait_seconds: float = 30.0, replicas: int = 0) -> None:
        self._backend = backend
        self._wait_seconds = wait_seconds
        self._replicas = replicas

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        key, token = f"tb:adapter-lock:{name}", uuid.uuid4().hex.encode()
        deadline = time.monotonic() + self._wait_seconds
        try:
            while not await self._backend.add(key, token, LOCK_TTL_SECONDS, self._replicas):
                if await self._backend.get(key) == token:  # a retried write found its own first try's lock
                    break
                if time.monotonic() > deadline:
                    raise ConflictError(f"another change to adapter {name!r} is in progress; try again", param="name")
                await asyncio.sleep(POLL_SECONDS)
        except UnconfirmedWriteError as exc:
            await self._give_back(key, token)
            message = "no Redis replica confirmed this change's lock in time, so nothing was changed; try again"
            raise ServiceUnavailableError(message) from exc
        except StateUnavailableError as exc:
            raise ServiceUnavailableError("adapter changes need the state store, which is down") from exc
        try:
            yield
        finally:
            await self._give_back(key, token)

    async def _give_back(self, key: str, token: bytes) -> None:
        """The lock released if it is still this holder's; a store that does not answer leaves it to expire
        at its TTL (the change's own outcome stands)."""
        try:
            if await self._backend.get(key) == token:
                await self._backend.delete(key)
        except StateUnavailableError as exc:
            log.warning("adapter lock %s not released (it expires in %.0f s): %s", key, LOCK_TTL_SECONDS, exc)
