"""The response cache: exact match on the normalised request, never stale.

Only deterministic requests are cached (temperature 0, or a seed). The key covers the messages (with
the session's history), the sampling parameters that change the answer, the model, the route hint and
the version of every adapter that could answer. An entry also records the index version its answer was
computed at; a request that may use retrieval only takes it when that is still the current version.
"""

import hashlib
from typing import Any

import msgspec

from tutorbook_gateway.state.backend import StateBackend
from tutorbook_service.index_version import INDEX_VERSION_KEY


class CachedAnswer(msgspec.Struct):
    completion: dict[str, Any]
    index_version: int | None  # None: no retrieval was involved (the base model or an adapter, named)
    owner: str | None = None  # whom it may be served to: the key's owner, or ``team:<team>`` when shared


def cache_key(request: dict[str, Any]) -> str:
    """``request`` holds every field that changes the answer; keys are sorted, so field order is moot."""
    digest = hashlib.sha256(msgspec.json.encode(request, order="sorted")).hexdigest()
    return f"tb:cache:{digest}"


def is_fresh(answer: CachedAnswer, current_index_version: int | None) -> bool:
    return answer.index_version is None or answer.index_version == current_index_version


class ResponseCache:
    def __init__(self, backend: StateBackend, ttl_seconds: float) -> None:
        self._backend = backend
        self._ttl = ttl_seconds

    async def lookup(self, key: str) -> CachedAnswer | None:
        raw = await self._backend.get(key)
        return None if raw is None else msgspec.json.decode(raw, type=CachedAnswer)

    async def lookup_with_version(self, key: str) -> tuple[CachedAnswer | None, int | None]:
        """The entry and the published index version, in one round trip (version None: not published)."""
        raw, version = await self._backend.get_many([key, INDEX_VERSION_KEY])
        answer = None if raw is None else msgspec.json.decode(raw, type=CachedAnswer)
        return answer, None if version is None else int(version)

    async def store(self, key: str, answer: CachedAnswer) -> None:
        await self._backend.set(key, msgspec.json.encode(answer), self._ttl)
