"""Redis clients for a :class:`~tutorbook_config.redis_target.RedisTarget`: by URL, or through Redis
Sentinel, whose clients ask the sentinels for the current primary when they connect, so a connection a
failover broke is replaced by one to the new primary (a write to a demoted primary fails with a
read-only error and is reconnected the same way); or a Redis Cluster, whose clients route each key to the
node that holds its slot and follow the slots when they move."""

from typing import Any, TypeAlias

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from tutorbook_config.redis_target import RedisTarget

AsyncRedis: TypeAlias = redis.asyncio.Redis | redis.asyncio.RedisCluster
SyncRedis: TypeAlias = redis.Redis | redis.RedisCluster


def replica_wait_ms(timeout_seconds: float) -> int:
    """How long a write's ``WAIT`` for replicas may take on a client with this socket timeout: half of it,
    so that a missing replica reads as a count, not as a timeout (at least 1 ms: ``WAIT n 0`` never ends)."""
    return max(1, int(timeout_seconds * 500))


def async_redis(target: RedisTarget, timeout_seconds: float, **options: Any) -> AsyncRedis:
    options.update(socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds)
    if target.cluster:
        return redis.asyncio.RedisCluster.from_url(target.url, **options)
    if not target.sentinels:
        return redis.asyncio.Redis.from_url(target.url, **options)
    # Asking a sentinel is tried once: redis-py's default retries (10, with backoff) would make one dead
    # sentinel cost seconds on every new connection; the next sentinel in the list is asked instead.
    asking = {
        "socket_timeout": timeout_seconds,
        "socket_connect_timeout": timeout_seconds,
        "retry": AsyncRetry(NoBackoff(), 0),
        **sentinel_auth(target),
    }
    sentinel = redis.asyncio.sentinel.Sentinel(list(target.sentinels), sentinel_kwargs=asking)  # type: ignore[no-untyped-call]
    options.update(primary_auth(target))
    client: redis.asyncio.Redis = sentinel.master_for(target.master, **options)
    return client


def sentinel_auth(target: RedisTarget) -> dict[str, Any]:
    return {"password": target.sentinel_password} if target.sentinel_password else {}


def primary_auth(target: RedisTarget) -> dict[str, Any]:
    return {"password": target.password} if target.password else {}


def sync_redis(target: RedisTarget, timeout_seconds: float) -> SyncRedis:
    options = {"socket_timeout": timeout_seconds, "socket_connect_timeout": timeout_seconds}
    if target.cluster:
        return redis.RedisCluster.from_url(target.url, **options)
    if not target.sentinels:
        return redis.Redis.from_url(target.url, **options)
    asking = {**options, "retry": Retry(NoBackoff(), 0), **sentinel_auth(target)}  # once per sentinel, as above
    sentinel = redis.sentinel.Sentinel(list(target.sentinels), sentinel_kwargs=asking)  # type: ignore[no-untyped-call]
    client: redis.Redis = sentinel.master_for(target.master, **options, **primary_auth(target))  # type: ignore[no-untyped-call]
    return client
