"""Who a key is: the caller a request's bearer key names, from this process's copy of the records.

Checking a key costs no I/O: the records live in memory, read again whenever their version changes. Every
gateway process asks the store for the version every ``refresh_seconds`` (a quarter of a second by
default), so a key made or revoked through one replica works, or stops working, on every replica within
that time plus one read; nothing depends on a notification arriving. When the store cannot be read, the
last records read keep serving (a revocation then waits for the store: docs/security.md).
"""

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from tutorbook_gateway.access.model import DEFAULT_TEAM, KeyLimits, KeyRecord, Scope, Team, key_id_of, secret_hash
from tutorbook_gateway.access.records import RecordStore
from tutorbook_gateway.state.backend import StateUnavailableError

log = logging.getLogger("tutorbook.access")
ALL_SCOPES = frozenset(Scope)
NO_LIMITS = KeyLimits()
RUNTIME_OWNER = "key-"  # how state names a runtime key: key-<id>


@dataclass(frozen=True)
class Caller:
    """Who is asking. ``owner`` names the caller in state, limits and logs: ``key-<id>`` for a runtime key
    (the same across rotations), the key's fingerprint for a bootstrap key; never the key itself."""

    owner: str
    team: str
    scopes: frozenset[Scope]
    models: frozenset[str] = frozenset()  # empty: any
    limits: KeyLimits = NO_LIMITS
    key_id: str | None = None  # runtime keys

    def may(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes

    @property
    def role(self) -> str:
        return "admin" if Scope.ADMIN in self.scopes else "user"

    def may_use(self, model: str) -> bool:
        return not self.models or model in self.models or model.split("@", 1)[0] in self.models


def key_fingerprint(api_key: str) -> str:
    """How a bootstrap key is named in state, logs and settings: never the key itself."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def bootstrap_callers(api_keys: list[str], admin_keys: list[str]) -> dict[str, Caller]:
    """The settings' keys, by their full hash: users may chat, admins may do everything."""
    chat = frozenset({Scope.CHAT})
    callers = {secret_hash(key): Caller(key_fingerprint(key), DEFAULT_TEAM, chat) for key in api_keys}
    return callers | {secret_hash(key): Caller(key_fingerprint(key), DEFAULT_TEAM, ALL_SCOPES) for key in admin_keys}


def caller_of(record: KeyRecord) -> Caller:
    scopes, models = frozenset(record.scopes), frozenset(record.models)
    return Caller(f"{RUNTIME_OWNER}{record.id}", record.team, scopes, models, record.limits, record.id)


class KeyDirectory:
    def __init__(
        self, records: RecordStore, bootstrap: dict[str, Caller], clock: Callable[[], float] = time.time
    ) -> None:
        self._records = records
        self._bootstrap = bootstrap
        self._clock = clock
        self._version = -1
        self.keys: dict[str, KeyRecord] = {}
        self.teams: dict[str, Team] = {}
        self.refresh_errors = 0

    def identify(self, key: str) -> Caller | None:
        """The caller this key names, or None: unknown, revoked, expired, or a secret rotated out."""
        digest = secret_hash(key)
        key_id = key_id_of(key)
        if key_id is None:  # compared with every bootstrap key, so timing tells nothing about which exist
            found = [caller for known, caller in self._bootstrap.items() if hmac.compare_digest(digest, known)]
            return found[0] if found else None
        record = self.keys.get(key_id)
        now = self._clock()
        if record is None or not record.active(now):
            return None
        valid = [s for s in record.secrets if s.valid_until is None or now < s.valid_until]
        return caller_of(record) if any([hmac.compare_digest(digest, s.sha256) for s in valid]) else None

    def limits_of(self, owner: str) -> KeyLimits | None:
        """A runtime key's own limits, by the name state knows it by (None: a bootstrap key)."""
        record = self.keys.get(owner.removeprefix(RUNTIME_OWNER)) if owner.startswith(RUNTIME_OWNER) else None
        return None if record is None else record.limits

    async def refresh(self) -> bool:
        """Read the records again if their version changed; True when it did."""
        version = await self._records.version()
        if version == self._version:
            return False
        loaded = await self._records.load()
        self.keys = {name: msgspec.json.decode(raw, type=KeyRecord) for name, raw in loaded.keys.items()}
        self.teams = {name: msgspec.json.decode(raw, type=Team) for name, raw in loaded.teams.items()}
        self._version = loaded.version
        return True

    async def keep_fresh(self, every_seconds: float) -> None:
        while True:
            try:
                await self.refresh()
            except StateUnavailableError as exc:
                self.refresh_errors += 1
                log.warning("access records unreadable, serving the last ones read: %s", exc)
            await asyncio.sleep(every_seconds)
