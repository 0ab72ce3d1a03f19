"""Redis clients for a :class:`~tutorbook_config.redis_target.RedisTarget`: by URL, or through Redis
Sentinel, whose clients ask the sentinels for the current primary when they connect, so a connection a
failover broke is replaced by one to the new primary (a write to a demoted primary fails with a
read-only error and is reconnected the same way)."""

from typing import Any

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from tutorbook_config.redis_target import RedisTarget


def async_redis(target: RedisTarget, timeout_seconds: float, **options: Any) -> redis.asyncio.Redis:
    options.update(socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds)
    if not target.sentinels:
        return redis.asyncio.Redis.from_url(target.url, **options)
    # Asking a sentinel is tried once: redis-py's default retries (10, with backoff) would make one dead
    # sentinel cost seconds on every new connection; the next sentinel in the list is asked instead.
    asking = {
        "socket_timeout": timeout_seconds,
        "socket_connect_timeout": timeout_seconds,
        "retry": AsyncRetry(NoBackoff(), 0),
    }
    sentinel = redis.asyncio.sentinel.Sentinel(list(target.sentinels), sentinel_kwargs=asking)  # type: ignore[no-untyped-call]
    client: redis.asyncio.Redis = sentinel.master_for(target.master, **options)
    return client


def sync_redis(target: RedisTarget, timeout_seconds: float) -> redis.Redis:
    options = {"socket_timeout": timeout_seconds, "socket_connect_timeout": timeout_seconds}
    if not target.sentinels:
        return redis.Redis.from_url(target.url, **options)
    asking = {**options, "retry": Retry(NoBackoff(), 0)}  # once per sentinel, as above
    sentinel = redis.sentinel.Sentinel(list(target.sentinels), sentinel_kwargs=asking)  # type: ignore[no-untyped-call]
    client: redis.Redis = sentinel.master_for(target.master, **options)  # type: ignore[no-untyped-call]
    return client
