"""The Redis state backend: shared by every gateway replica. Short timeouts, so a Redis outage costs a
request milliseconds, not seconds; redis-py reconnects by itself once Redis is back."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, RedisClusterException, RedisError

from tutorbook_config.redis_target import RedisTarget
from tutorbook_gateway.state.backend import (
    BucketResult,
    BucketStep,
    StateUnavailableError,
    UnconfirmedWriteError,
    count_round_trip,
)
from tutorbook_service.redis_clients import async_redis, replica_wait_ms

T = TypeVar("T")

# Refill every bucket (KEYS[i]; ARGV holds capacity, per_second, need, cost, debit, partial for each),
# subtract its debit (a negative one gives tokens back, up to the capacity), then take from all of them
# only if each has what it needs; a partial step takes what it can of its cost, in whole tokens. Redis's
# own clock, so that every replica sees the same time. A bucket expires only once it would be full again, so
# a debt is never forgiven by forgetting the bucket.
TAKE_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local levels = {}
local all_enough = true
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[6 * i - 5])
  local per_second = tonumber(ARGV[6 * i - 4])
  local need = tonumber(ARGV[6 * i - 3])
  local debit = tonumber(ARGV[6 * i - 1])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1]) or capacity
  local at = tonumber(state[2]) or now
  levels[i] = math.min(capacity, tokens + math.max(0, now - at) * per_second - debit)
  if need > 0 and levels[i] < need then all_enough = false end
end
local results = {}
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[6 * i - 5])
  local per_second = tonumber(ARGV[6 * i - 4])
  local need = tonumber(ARGV[6 * i - 3])
  local cost = tonumber(ARGV[6 * i - 2])
  local partial = tonumber(ARGV[6 * i]) == 1
  local taken = 0
  if all_enough then
    taken = cost
    if partial then taken = math.min(cost, math.max(0, math.floor(levels[i]))) end
  end
  local level = levels[i] - taken
  redis.call('HSET', key, 'tokens', tostring(level), 'at', tostring(now))
  redis.call('EXPIRE', key, math.ceil((capacity - math.min(level, capacity)) / per_second) + 60)
  local enough = 1
  local retry = 0
  if need > 0 and levels[i] < need then
    enough = 0
    retry = (need - levels[i]) / per_second
  end
  results[i] = {enough, tostring(retry), tostring(level), tostring(taken)}
end
return results
"""


SUBSCRIPTION_POLL_SECONDS = 30.0  # a subscription waits this long for a message before asking again
DISCOVERY_RETRY_SECONDS = 1.0  # after a cluster could not be reached, requests fail at once for this long


def as_bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


class RedisBackend:
    name = "redis"

    def __init__(self, target: RedisTarget, timeout_seconds: float = 0.5) -> None:
        # A pooled connection that a Redis restart (or a failover) broke is replaced once, at once (not
        # reported as an outage); a Redis that does not answer in time is not retried.
        self._client = async_redis(
            target,
            timeout_seconds,
            health_check_interval=10,
            retry=Retry(NoBackoff(), retries=1, supported_errors=(ConnectionError,)),
        )
        self._take = self._client.register_script(TAKE_SCRIPT)
        self._wait_ms = replica_wait_ms(timeout_seconds)
        self._slots_known = not isinstance(self._client, RedisCluster)
        self._discovery = asyncio.Lock()
        self._discovery_failed_at = -DISCOVERY_RETRY_SECONDS

    async def _discovered(self) -> None:
        """A cluster client learns the slots once, before any command: redis-py's async cluster client,
        asked by many commands at once before it knows them, sometimes sends one on an unopened connection
        (50 concurrent scripts as the first commands failed 1 run in 6 here; after this, 0 in 20)."""
        if self._slots_known:
            return
        if time.monotonic() - self._discovery_failed_at < DISCOVERY_RETRY_SECONDS:  # no queue on a dead cluster
            raise StateUnavailableError("redis cluster: unreachable a moment ago")
        async with self._discovery:
            if not self._slots_known and isinstance(self._client, RedisCluster):
                try:
                    await self._client.initialize()
                except BaseException:
                    self._discovery_failed_at = time.monotonic()
                    raise
                self._slots_known = True

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        count_round_trip()
        try:
            await self._discovered()
            return await operation()
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:  # the cluster's are not RedisErrors
            raise StateUnavailableError(f"redis: {type(exc).__name__}: {exc}") from exc

    async def get(self, key: str) -> bytes | None:
        value = await self._call(lambda: self._client.get(key))
        return as_bytes(value)

    async def get_many(self, keys: list[str]) -> list[bytes | None]:
        client = self._client
        if isinstance(client, RedisCluster):  # one read per node: the keys need not share a slot
            values = await self._call(lambda: client.mget_nonatomic(keys))
        else:
            values = await self._call(lambda: self._client.mget(keys))
        return [as_bytes(value) for value in values]

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        await self._call(lambda: self._client.set(key, value, px=max(1, int(ttl_seconds * 1000))))

    async def add(self, key: str, value: bytes, ttl_seconds: float, replicas: int = 0) -> bool:
        ttl_ms, client = max(1, int(ttl_seconds * 1000)), self._client
        if replicas <= 0:
            return bool(await self._call(lambda: client.set(key, value, px=ttl_ms, nx=True)))
        if isinstance(client, RedisCluster):  # the settings refuse this; WAIT needs the write's own connection
            raise TypeError("a write that waits for replicas needs Redis behind Sentinel, not a cluster")

        async def set_then_wait() -> tuple[bool, int]:  # one connection for both: WAIT counts its writes
            async with client.pipeline(transaction=False) as pipe:
                pipe.set(key, value, px=ttl_ms, nx=True)
                pipe.wait(replicas, self._wait_ms)
                was_set, replicated = await pipe.execute()
                return bool(was_set), int(replicated)

        added, confirmed = await self._call(set_then_wait)
        if added and confirmed < replicas:
            raise UnconfirmedWriteError(f"on the primary, confirmed by {confirmed} of {replicas} replicas")
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

    async def take(self, steps: list[BucketStep]) -> list[BucketResult]:
        keys = [step.key for step in steps]
        args = [
            value
            for step in steps
            for value in (step.capacity, step.per_second, step.need, step.cost, step.debit, int(step.partial))
        ]
        found = await self._call(lambda: self._take(keys=keys, args=args))
        return [
            BucketResult(bool(int(ok)), float(retry), float(level), float(taken)) for ok, retry, level, taken in found
        ]

    async def subscribe(self, channel: str) -> AsyncIterator[bytes | None]:
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            await self._call(lambda: pubsub.subscribe(channel))
            yield None
            while True:
                message = await self._call(lambda: pubsub.get_message(timeout=SUBSCRIPTION_POLL_SECONDS))
                if message is not None:
                    yield as_bytes(message["data"])
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def ping(self) -> None:
        await self._call(lambda: self._client.ping())

    async def close(self) -> None:
        await self._client.aclose()
