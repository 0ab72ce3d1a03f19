"""The index version as the retriever publishes it, kept by each gateway process through a Redis
subscription, so that a cached answer's freshness can be checked with no round trip.

``current`` is None whenever the copy cannot be trusted: before the first subscription, while the
subscription is down, and when nothing was published (no Redis, or no retriever publishing to it). The
cache then checks freshness the way it always did (with the entry, in one round trip).
"""

import asyncio
import logging

from tutorbook_gateway.state.backend import StateBackend, StateUnavailableError
from tutorbook_service.index_version import INDEX_VERSION_CHANNEL, INDEX_VERSION_KEY

RESUBSCRIBE_SECONDS = 1.0
log = logging.getLogger("tutorbook.index_version")


class IndexVersionWatch:
    def __init__(self, backend: StateBackend) -> None:
        self._backend = backend
        self.current: int | None = None

    def advance(self, version: int) -> None:
        self.current = version if self.current is None else max(self.current, version)

    async def follow(self) -> None:
        """Subscribe, then read the published version; follow every announcement until the store goes
        away (then forget the copy and subscribe again)."""
        try:
            async for message in self._backend.subscribe(INDEX_VERSION_CHANNEL):
                if message is None:
                    published = await self._backend.get(INDEX_VERSION_KEY)
                    if published is not None:
                        self.advance(int(published))
                else:
                    self.advance(int(message))
        finally:
            self.current = None

    async def run(self) -> None:
        while True:
            try:
                await self.follow()
            except StateUnavailableError as exc:
                log.warning("index version subscription lost, checking freshness in Redis meanwhile: %s", exc)
            await asyncio.sleep(RESUBSCRIBE_SECONDS)
