"""Where teams, keys and the audit log are kept: authoritative records, never evicted, never expiring.

In Redis (every gateway replica reads the same ones): a hash of keys and one of teams, a version number
raised with every change in the same transaction (replicas poll it to know when to reload), and the audit
log as a capped list. None of them has a TTL, so ``volatile-lru`` never evicts them. Without Redis, one
process keeps them in memory (they end with it: docs/security.md).
"""

from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from tutorbook_config.redis_target import RedisTarget
from tutorbook_gateway.state.backend import StateUnavailableError, UnconfirmedWriteError
from tutorbook_service.redis_clients import async_redis, replica_wait_ms

KEYS, TEAMS, VERSION, AUDIT = "tb:access:keys", "tb:access:teams", "tb:access:version", "tb:access:audit"


@dataclass(frozen=True)
class Records:
    version: int
    keys: dict[str, bytes]  # key id -> KeyRecord (JSON)
    teams: dict[str, bytes]  # team name -> Team (JSON)


class RecordStore(Protocol):
    async def version(self) -> int: ...

    async def load(self) -> Records: ...

    async def put(self, kind: str, name: str, value: bytes) -> None:
        """Write a key (``kind`` "keys") or team ("teams") record and raise the version, atomically."""
        ...

    async def remove(self, kind: str, name: str) -> None: ...

    async def append_audit(self, entry: bytes, keep: int) -> None:
        """Add an entry to the audit log, keeping the newest ``keep``."""
        ...

    async def audit(self, newest: int) -> list[bytes]:
        """The newest ``newest`` entries, newest first."""
        ...

    async def close(self) -> None: ...


@dataclass
class MemoryRecords:
    """One process's records (the embedded default, and tests)."""

    _version: int = 0
    _kinds: dict[str, dict[str, bytes]] = field(default_factory=lambda: {"keys": {}, "teams": {}})
    _audit: list[bytes] = field(default_factory=list)

    async def version(self) -> int:
        return self._version

    async def load(self) -> Records:
        return Records(self._version, dict(self._kinds["keys"]), dict(self._kinds["teams"]))

    async def put(self, kind: str, name: str, value: bytes) -> None:
        self._kinds[kind][name] = value
        self._version += 1

    async def remove(self, kind: str, name: str) -> None:
        self._kinds[kind].pop(name, None)
        self._version += 1

    async def append_audit(self, entry: bytes, keep: int) -> None:
        self._audit = [entry, *self._audit][:keep]

    async def audit(self, newest: int) -> list[bytes]:
        return self._audit[:newest]

    async def close(self) -> None:
        return None


def by_name(found: dict[bytes, bytes]) -> dict[str, bytes]:
    return {name.decode(): value for name, value in found.items()}


PUT = "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]); return redis.call('INCR', KEYS[2])"
REMOVE = "redis.call('HDEL', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])"
AUDIT_PUSH = "redis.call('LPUSH', KEYS[1], ARGV[1]); return redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)"


class RedisRecords:
    """The records in Redis (the shared state's Redis unless the deployment names another)."""

    def __init__(self, target: RedisTarget, timeout_seconds: float, replicas: int = 0) -> None:
        client = async_redis(target, timeout_seconds)
        if not isinstance(client, redis.asyncio.Redis):  # the settings refuse a cluster for the records
            raise TypeError("the access records are kept in a Redis of their own, not in a Redis Cluster")
        self._client = client
        self._hashes = {"keys": KEYS, "teams": TEAMS}
        self._put, self._remove = self._client.register_script(PUT), self._client.register_script(REMOVE)
        self._audit = self._client.register_script(AUDIT_PUSH)
        self._replicas, self._wait_ms = replicas, replica_wait_ms(timeout_seconds)

    async def _call(self, operation: Any) -> Any:
        try:
            return await operation
        except (RedisError, OSError, TimeoutError) as exc:
            raise StateUnavailableError(f"redis (access records): {type(exc).__name__}: {exc}") from exc

    async def version(self) -> int:
        return int(await self._call(self._client.get(VERSION)) or 0)

    async def load(self) -> Records:
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.get(VERSION)
            pipe.hgetall(KEYS)
            pipe.hgetall(TEAMS)
            version, keys, teams = await self._call(pipe.execute())
        return Records(int(version or 0), by_name(keys), by_name(teams))

    async def _write(self, script: AsyncScript, keys: list[str], args: list[str | bytes | int]) -> None:
        """One atomic script, then (asked for ``replicas``) WAIT on the same connection: answered once that
        many replicas have the write, so a failover cannot lose it. Fewer within the wait: an error saying
        the write is on the primary, unconfirmed (Redis does not undo it; a failover may or may not)."""
        async with self._client.pipeline(transaction=False) as pipe:  # one connection for both
            await script(keys=keys, args=args, client=pipe)
            if self._replicas > 0:
                pipe.wait(self._replicas, self._wait_ms)
            results = await self._call(pipe.execute())
        if self._replicas > 0 and int(results[-1]) < self._replicas:
            raise UnconfirmedWriteError(f"on the primary, confirmed by {results[-1]} of {self._replicas} replicas")

    async def put(self, kind: str, name: str, value: bytes) -> None:
        await self._write(self._put, [self._hashes[kind], VERSION], [name, value])

    async def remove(self, kind: str, name: str) -> None:
        await self._write(self._remove, [self._hashes[kind], VERSION], [name])

    async def append_audit(self, entry: bytes, keep: int) -> None:
        await self._write(self._audit, [AUDIT], [entry, keep])

    async def audit(self, newest: int) -> list[bytes]:
        return list(await self._call(self._client.lrange(AUDIT, 0, newest - 1))) if newest > 0 else []

    async def close(self) -> None:
        await self._client.aclose()
