"""A gateway's copy of the index version: an ingest whose announcement never arrived is still noticed
within the re-read interval, and the copy is not trusted once the subscription is gone."""

import asyncio
from collections.abc import AsyncIterator, Callable

from tutorbook_gateway.state.backend import StateUnavailableError
from tutorbook_gateway.state.index_version import IndexVersionWatch
from tutorbook_gateway.state.memory import MemoryBackend
from tutorbook_service.index_version import INDEX_VERSION_KEY


async def until(condition: Callable[[], bool], seconds: float = 2.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("never happened")


async def test_a_version_published_without_its_announcement_is_read_within_the_interval() -> None:
    backend = MemoryBackend()  # its subscription never delivers anything: every announcement is lost
    await backend.set(INDEX_VERSION_KEY, b"5", 600)
    watch = IndexVersionWatch(backend, reread_seconds=0.05)
    following = asyncio.create_task(watch.follow())
    try:
        await until(lambda: watch.current == 5)
        await backend.set(INDEX_VERSION_KEY, b"9", 600)
        await until(lambda: watch.current == 9)
    finally:
        following.cancel()


class LostSubscription(MemoryBackend):
    async def subscribe(self, channel: str) -> AsyncIterator[bytes | None]:
        yield None
        await asyncio.sleep(0.1)
        raise StateUnavailableError("connection lost")


async def test_the_copy_is_forgotten_when_the_subscription_goes() -> None:
    backend = LostSubscription()
    await backend.set(INDEX_VERSION_KEY, b"5", 600)
    watch = IndexVersionWatch(backend, reread_seconds=0.01)
    following = asyncio.create_task(watch.follow())
    await until(lambda: watch.current == 5)
    await until(following.done)
    assert watch.current is None and isinstance(following.exception(), StateUnavailableError)
