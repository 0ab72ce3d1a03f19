"""The Redis state backend: shared by every gateway replica. Short timeouts, so a Redis outage costs a
request milliseconds, not seconds; redis-py reconnects by itself once Redis is back."""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as redis
from redis.exceptions import RedisError

from tutorbook_gateway.state.backend import BucketResult, StateUnavailableError

T = TypeVar("T")

# Refill, then take ``cost`` when at least ``need`` tokens are there (``need`` <= 0: always take).
# Redis's own clock, so that every replica sees the same time.
TAKE_SCRIPT = """
local capacity = tonumber(ARGV[1])
local per_second = tonumber(ARGV[2])
local need = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * per_second)
local allowed = 0
local retry = 0
if need <= 0 or tokens >= need then
  tokens = tokens - cost
  allowed = 1
else
  retry = (need - tokens) / per_second
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / per_second) + 60)
return {allowed, tostring(retry), tostring(tokens)}
"""


def as_bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


class RedisBackend:
    name = "redis"

    def __init__(self, url: str, timeout_seconds: float = 0.5) -> None:
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds, health_check_interval=10
        )
        self._take = self._client.register_script(TAKE_SCRIPT)

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        try:
            return await operation()
        except (RedisError, OSError, TimeoutError) as exc:
            raise StateUnavailableError(f"redis: {type(exc).__name__}: {exc}") from exc

    async def get(self, key: str) -> bytes | None:
        value = await self._call(lambda: self._client.get(key))
        return as_bytes(value)

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        values = await self._call(lambda: self._client.mget(keys))
        return [as_bytes(value) for value in values]

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        await self._call(lambda: self._client.set(key, value, px=max(1, int(ttl_seconds * 1000))))

    async def add(self, key: str, value: bytes, ttl_seconds: float) -> bool:
        added = await self._call(lambda: self._client.set(key, value, px=max(1, int(ttl_seconds * 1000)), nx=True))
        return bool(added)

    async def delete(self, key: str) -> None:
        await self._call(lambda: self._client.delete(key))

    async def push(self, key: str, values: list[bytes], keep_last: int, ttl_seconds: float) -> None:
        async def transaction() -> Any:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.rpush(key, *values)
                pipe.ltrim(key, -keep_last, -1)
                pipe.pexpire(key, max(1, int(ttl_seconds * 1000)))
                return await pipe.execute()

        await self._call(transaction)

    async def items(self, key: str, last: int) -> list[bytes]:
        if last <= 0:
            return []
        found = await self._call(lambda: self._client.lrange(key, -last, -1))
        return [item.encode() if isinstance(item, str) else item for item in found]

    async def take(self, key: str, capacity: float, per_second: float, need: float, cost: float) -> BucketResult:
        result = await self._call(lambda: self._take(keys=[key], args=[capacity, per_second, need, cost]))
        allowed, retry, remaining = result
        return BucketResult(bool(int(allowed)), float(retry), float(remaining))

    async def ping(self) -> None:
        await self._call(lambda: self._client.ping())

    async def close(self) -> None:
        await self._client.aclose()
