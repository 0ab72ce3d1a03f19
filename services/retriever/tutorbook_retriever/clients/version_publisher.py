"""Publishing the index version where the gateways read their state (Redis), so that checking a cached
answer's freshness costs them no call to the retriever. Without Redis nothing is published and the
gateway asks the retriever (``GET /v1/index-version``)."""

import logging
from typing import Protocol

from redis.exceptions import RedisClusterException, RedisError

from tutorbook_config.redis_target import RedisTarget
from tutorbook_service.index_version import INDEX_VERSION_CHANNEL, INDEX_VERSION_KEY
from tutorbook_service.redis_clients import SyncRedis, replica_wait_ms, sync_redis

log = logging.getLogger("tutorbook.index_version")

# Versions only move forward (they are nanosecond clocks): an older value never overwrites a newer one.
# A new version is also announced on the channel, so gateways that keep a copy learn of it at once.
# The stored version is written back even when it is not older: a write every time, so a WAIT after the
# script covers the version now stored (WAIT counts replicas that have this connection's last write).
PUBLISH_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if not current or tonumber(ARGV[1]) > tonumber(current) then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('PUBLISH', ARGV[2], ARGV[1])
else
  redis.call('SET', KEYS[1], current)
end
return redis.call('GET', KEYS[1])
"""


class VersionPublisher(Protocol):
    must_replicate: bool  # a document change is acknowledged only once its version is on a replica

    def publish(self, version: int, confirm: bool = False) -> bool:
        """Whether the version is stored (and, ``confirm`` with ``must_replicate``, on the replicas asked for)."""

    def close(self) -> None: ...


class NoPublisher:
    must_replicate = False

    def publish(self, version: int, confirm: bool = False) -> bool:
        return True

    def close(self) -> None:
        return None


class RedisVersionPublisher:
    def __init__(self, target: RedisTarget, timeout_seconds: float = 2.0, replicas: int = 0) -> None:
        self._target, self._timeout = target, timeout_seconds
        self._client: SyncRedis | None = None  # opened at the first publication (a cluster client connects at once)
        self._replicas, self._wait_ms = replicas, replica_wait_ms(timeout_seconds)
        self.must_replicate = replicas > 0

    def publish(self, version: int, confirm: bool = False) -> bool:
        """A failure is logged (the retriever publishes again every second). ``confirm`` (a document
        change's answer waits on it) with ``replicas``: the script, then WAIT on the same connection, so the
        version survives a failover of the primary."""
        wait = confirm and self._replicas > 0
        try:
            if self._client is None:
                self._client = sync_redis(self._target, self._timeout)
                self._script = self._client.register_script(PUBLISH_SCRIPT)
            if wait:
                with self._client.pipeline(transaction=False) as pipe:  # one connection for both
                    self._script(keys=[INDEX_VERSION_KEY], args=[version, INDEX_VERSION_CHANNEL], client=pipe)
                    pipe.wait(self._replicas, self._wait_ms)
                    replicated = int(pipe.execute()[-1])
            else:
                self._script(keys=[INDEX_VERSION_KEY], args=[version, INDEX_VERSION_CHANNEL])
        except (RedisError, RedisClusterException, OSError) as exc:  # a cluster's errors are not RedisErrors
            log.warning("index version %s not published: %s", version, exc)
            return False
        if wait and replicated < self._replicas:
            log.warning("index version %s published on %s of %s replicas", version, replicated, self._replicas)
            return False
        return True

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
