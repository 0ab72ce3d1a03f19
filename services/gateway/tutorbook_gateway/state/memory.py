"""The in-memory state backend: one process, same behaviour as Redis (TTLs, lists, token buckets).

Bounded: each kind of entry (values, lists, buckets) holds at most ``max_keys``; a new key beyond that
evicts the least recently written one, in constant time (like Redis's ``allkeys-lru`` at its
``maxmemory``). Expired entries go when they are next read.
"""

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import TypeVar

from tutorbook_gateway.state.backend import BucketResult, BucketStep

T = TypeVar("T")


class MemoryBackend:
    name = "memory"

    def __init__(self, max_keys: int = 100_000) -> None:
        self._values: dict[str, tuple[bytes, float]] = {}
        self._lists: dict[str, tuple[deque[bytes], float]] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # tokens, last refill (monotonic)
        self._max_keys = max_keys

    def _alive(self, expires: float) -> bool:
        return expires > time.monotonic()

    def _put(self, entries: dict[str, T], key: str, entry: T) -> None:
        """Write ``key`` as the most recent entry, evicting the least recently written when full."""
        entries.pop(key, None)
        while len(entries) >= self._max_keys:
            del entries[next(iter(entries))]
        entries[key] = entry

    async def get(self, key: str) -> bytes | None:
        found = self._values.get(key)
        if found is None or not self._alive(found[1]):
            self._values.pop(key, None)
            return None
        return found[0]

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        return [await self.get(key) for key in keys]

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self._put(self._values, key, (value, time.monotonic() + ttl_seconds))

    async def add(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        if await self.get(key) is not None:
            return False
        await self.set(key, value, ttl_seconds)
        return True

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)
        self._lists.pop(key, None)

    async def push(self, key: str, values: list[bytes], keep_last: int, ttl_seconds: float) -> None:
        found = self._lists.get(key)
        items = found[0] if found and self._alive(found[1]) else deque()
        items.extend(values)
        while len(items) > keep_last:
            items.popleft()
        self._put(self._lists, key, (items, time.monotonic() + ttl_seconds))

    async def items(self, key: str, last: int) -> list[bytes]:
        found = self._lists.get(key)
        if found is None or not self._alive(found[1]):
            self._lists.pop(key, None)
            return []
        return list(found[0])[-last:] if last > 0 else []

    async def take(self, steps: list[BucketStep]) -> list[BucketResult]:
        now = time.monotonic()
        levels = []
        for step in steps:
            tokens, last = self._buckets.get(step.key, (step.capacity, now))
            levels.append(min(step.capacity, tokens + (now - last) * step.per_second - step.debit))
        enough = [step.need <= 0 or level >= step.need for step, level in zip(steps, levels, strict=True)]
        results = []
        for step, level, ok in zip(steps, levels, enough, strict=True):
            taken = 0.0
            if all(enough):
                taken = min(step.cost, max(0.0, math.floor(level))) if step.partial else step.cost
            self._put(self._buckets, step.key, (level - taken, now))
            retry = 0.0 if ok else (step.need - level) / step.per_second
            results.append(BucketResult(ok, retry, level - taken, taken))
        return results

    async def subscribe(self, channel: str) -> AsyncIterator[bytes | None]:
        """Nothing is ever published into one process's memory: subscribed, then silence."""
        yield None
        await asyncio.Event().wait()

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None
