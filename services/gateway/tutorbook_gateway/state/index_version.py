"""The index version as the retriever publishes it, kept by each gateway process through a Redis
subscription, so that a cached answer's freshness can be checked with no round trip.

``current`` is None whenever the copy cannot be trusted: before the first subscription, while the
subscription is down, and when nothing was published (no Redis, or no retriever publishing to it). The
cache then checks freshness the way it always did (with the entry, in one round trip). An announcement
the subscription never delivered is not missed for long: while subscribed, the published version is also
read every ``reread_seconds``, so an ingest is noticed within that time even without its announcement.
"""

import asyncio
import contextlib
import logging

from tutorbook_gateway.state.backend import StateBackend
from tutorbook_service.index_version import INDEX_VERSION_CHANNEL, INDEX_VERSION_KEY

RESUBSCRIBE_SECONDS = 1.0
REREAD_SECONDS = 2.0  # the longest a lost announcement leaves a process's copy behind
log = logging.getLogger("tutorbook.index_version")


class IndexVersionWatch:
    def __init__(self, backend: StateBackend, reread_seconds: float = REREAD_SECONDS) -> None:
        self._backend = backend
        self._reread_seconds = reread_seconds
        self.current: int | None = None

    def advance(self, version: int) -> None:
        self.current = version if self.current is None else max(self.current, version)

    async def read_published(self) -> None:
        published = await self._backend.get(INDEX_VERSION_KEY)
        if published is not None:
            self.advance(int(published))

    async def follow(self) -> None:
        """Subscribe, then read the published version; follow every announcement, and read again now and
        then, until the store goes away (then forget the copy and subscribe again)."""
        rereading: asyncio.Task[None] | None = None
        try:
            async for message in self._backend.subscribe(INDEX_VERSION_CHANNEL):
                if message is None:
                    await self.read_published()
                    rereading = rereading or asyncio.create_task(self._reread_while_subscribed())
                else:
                    self.advance(int(message))
        finally:
            if rereading is not None:
                rereading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await rereading
            self.current = None

    async def _reread_while_subscribed(self) -> None:
        while True:
            await asyncio.sleep(self._reread_seconds)
            try:
                await self.read_published()
            except Exception as exc:  # noqa: BLE001 - the copy stays as it was; the subscription goes on
                log.warning("index version not read again: %s", exc)

    async def run(self) -> None:
        while True:
            try:
                await self.follow()
            except Exception as exc:  # noqa: BLE001 - whatever ended it, subscribe again (never a dead watch)
                log.warning("index version subscription lost, checking freshness in Redis meanwhile: %s", exc)
            await asyncio.sleep(RESUBSCRIBE_SECONDS)
