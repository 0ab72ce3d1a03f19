"""The in-memory state backend: one process, same behaviour as Redis (TTLs, lists, token buckets).

Bounded in bytes, as Redis is by its ``maxmemory``: every entry (a value, a list, a bucket) counts its key
and its contents plus an overhead; a write that would go past ``max_bytes`` first evicts the least recently
written entries, whatever their kind (like Redis's ``allkeys-lru``). Expired entries go when they are next
read.
"""

import asyncio
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Iterable
from typing import Any

from tutorbook_gateway.state.backend import BucketResult, BucketStep

ENTRY_OVERHEAD = 96  # bytes counted beside each entry's key and contents (Python's objects around them)
BUCKET_BYTES = 48  # a bucket's two numbers


class MemoryBackend:
    name = "memory"

    def __init__(self, max_bytes: int = 256_000_000) -> None:
        self._values: dict[str, tuple[bytes, float]] = {}
        self._lists: dict[str, tuple[deque[bytes], float]] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # tokens, last refill (monotonic)
        self._kinds: dict[str, dict[str, Any]] = {"value": self._values, "list": self._lists, "bucket": self._buckets}
        self._sizes: OrderedDict[tuple[str, str], int] = OrderedDict()  # least recently written first
        self.bytes = 0
        self._max_bytes = max_bytes

    def _alive(self, expires: float) -> bool:
        return expires > time.monotonic()

    def _put(self, kind: str, key: str, entry: Any, contents: Iterable[bytes] = ()) -> None:
        """Write ``key`` as the most recent entry, evicting the least recently written while over the cap."""
        self._forget(kind, key)
        size = (
            ENTRY_OVERHEAD + len(key) + sum(len(part) for part in contents) + (BUCKET_BYTES if kind == "bucket" else 0)
        )
        while self._sizes and self.bytes + size > self._max_bytes:
            (old_kind, old_key), _ = next(iter(self._sizes.items()))
            self._forget(old_kind, old_key)
        self._kinds[kind][key] = entry
        self._sizes[(kind, key)] = size
        self.bytes += size

    def _forget(self, kind: str, key: str) -> None:
        self._kinds[kind].pop(key, None)
        self.bytes -= self._sizes.pop((kind, key), 0)

    async def get(self, key: str) -> bytes | None:
        found = self._values.get(key)
        if found is None or not self._alive(found[1]):
            self._forget("value", key)
            return None
        return found[0]

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        return [await self.get(key) for key in keys]

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        self._put("value", key, (value, time.monotonic() + ttl_seconds), [value])

    async def add(self, key: str, value: bytes, ttl_seconds: float, replicas: int = 0) -> bool:
        if await self.get(key) is not None:
            return False
        await self.set(key, value, ttl_seconds)
        return True

    async def delete(self, key: str) -> None:
        self._forget("value", key)
        self._forget("list", key)

    async def push(self, key: str, values: list[bytes], keep_last: int, ttl_seconds: float) -> None:
        found = self._lists.get(key)
        items = found[0] if found and self._alive(found[1]) else deque()
        items.extend(values)
        while len(items) > keep_last:
            items.popleft()
        self._put("list", key, (items, time.monotonic() + ttl_seconds), items)

    async def items(self, key: str, last: int) -> list[bytes]:
        found = self._lists.get(key)
        if found is None or not self._alive(found[1]):
            self._forget("list", key)
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
            self._put("bucket", step.key, (level - taken, now))
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
