"""Publishing the index version where the gateways read their state (Redis), so that checking a cached
answer's freshness costs them no call to the retriever. Without Redis nothing is published and the
gateway asks the retriever (``GET /v1/index-version``)."""

import logging
from typing import Protocol

from redis.exceptions import RedisError

from tutorbook_config.redis_target import RedisTarget
from tutorbook_service.index_version import INDEX_VERSION_CHANNEL, INDEX_VERSION_KEY
from tutorbook_service.redis_clients import sync_redis

log = logging.getLogger("tutorbook.index_version")

# Versions only move forward (they are nanosecond clocks): an older value never overwrites a newer one.
# A new version is also announced on the channel, so gateways that keep a copy learn of it at once.
PUBLISH_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if not current or tonumber(ARGV[1]) > tonumber(current) then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('PUBLISH', ARGV[2], ARGV[1])
end
return redis.call('GET', KEYS[1])
"""


class VersionPublisher(Protocol):
    def publish(self, version: int) -> None: ...

    def close(self) -> None: ...


class NoPublisher:
    def publish(self, version: int) -> None:
        return None

    def close(self) -> None:
        return None


class RedisVersionPublisher:
    def __init__(self, target: RedisTarget, timeout_seconds: float = 1.0) -> None:
        self._client = sync_redis(target, timeout_seconds)
        self._script = self._client.register_script(PUBLISH_SCRIPT)

    def publish(self, version: int) -> None:
        """Best effort: a failure is logged; the retriever publishes again every second."""
        try:
            self._script(keys=[INDEX_VERSION_KEY], args=[version, INDEX_VERSION_CHANNEL])
        except (RedisError, OSError) as exc:
            log.warning("index version %s not published: %s", version, exc)

    def close(self) -> None:
        self._client.close()
