"""Managing teams and keys at runtime: plain functions over the records, each one audited. The routes
(``routes/admin.py``) and the ``tutorbook-keys`` command call these; nothing here knows about HTTP."""

import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from tutorbook_gateway.access.audit import AuditLog
from tutorbook_gateway.access.directory import Caller, KeyDirectory
from tutorbook_gateway.access.model import (
    DEFAULT_TEAM,
    KeyLimits,
    KeyRecord,
    Scope,
    SecretHash,
    Team,
    new_key_id,
    new_secret,
    secret_hash,
)
from tutorbook_gateway.access.records import RecordStore
from tutorbook_service.errors import BadRequestError, ConflictError, NotFoundError, PayloadTooLargeError
from tutorbook_service.teams import PUBLIC, is_team_name

MAX_KEY_NAME_CHARS = 100
MAX_DESCRIPTION_CHARS = 500


@dataclass(frozen=True)
class AccessBounds:
    max_teams: int
    max_keys: int  # revoked keys included: they stay listed
    max_models_per_key: int
    max_grace_seconds: float


class TeamRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    description: str = ""
    state_bytes: int = 0


class KeyRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    team: str = DEFAULT_TEAM
    scopes: list[Scope] = msgspec.field(default_factory=lambda: [Scope.CHAT])
    models: list[str] = msgspec.field(default_factory=list)
    limits: KeyLimits = KeyLimits()
    expires_in_seconds: float | None = None


class RotateRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    grace_seconds: float = 0.0  # how long the old secret keeps working


@dataclass(frozen=True)
class AccessAdmin:
    records: RecordStore
    directory: KeyDirectory
    audit: AuditLog
    bounds: AccessBounds
    clock: Callable[[], float] = time.time

    async def create_team(self, caller: Caller, request: TeamRequest) -> Team:
        async with self.audit.action(caller, "team.create", request.name) as details:
            check_team_request(request)
            await self.directory.refresh()
            if request.name in self.directory.teams or request.name == DEFAULT_TEAM:
                raise ConflictError(f"team {request.name!r} exists")
            if len(self.directory.teams) >= self.bounds.max_teams:
                raise PayloadTooLargeError(f"at most {self.bounds.max_teams} teams (TUTORBOOK_GATEWAY_KEYS__MAX_TEAMS)")
            team = Team(request.name, self.clock(), request.description, request.state_bytes)
            await self.records.put("teams", team.name, msgspec.json.encode(team))
            details.update(description=request.description, state_bytes=request.state_bytes)
        await self.directory.refresh()
        return team

    async def create_key(self, caller: Caller, request: KeyRequest) -> tuple[KeyRecord, str]:
        """The key's record and its secret (shown once: only its hash is kept)."""
        key_id = new_key_id()
        async with self.audit.action(caller, "key.create", f"tbk_{key_id}") as details:
            await self.directory.refresh()
            self.check_key_request(request)
            secret, now = new_secret(key_id), self.clock()
            expires = None if request.expires_in_seconds is None else now + request.expires_in_seconds
            record = KeyRecord(key_id, request.name, request.team, sorted(set(request.scopes)), now,
                               [SecretHash(secret_hash(secret))], sorted(set(request.models)), request.limits,
                               expires)  # fmt: skip
            await self.records.put("keys", key_id, msgspec.json.encode(record))
            details.update(name=request.name, team=request.team, scopes=record.scopes, expires=expires)
        await self.directory.refresh()
        return record, secret

    async def rotate_key(self, caller: Caller, key_id: str, request: RotateRequest) -> tuple[KeyRecord, str]:
        """A new secret for the key; the old one works for ``grace_seconds`` more (0: stops now)."""
        async with self.audit.action(caller, "key.rotate", f"tbk_{key_id}") as details:
            record = await self.live_key(key_id)
            if not 0 <= request.grace_seconds <= self.bounds.max_grace_seconds:
                raise BadRequestError(f"grace_seconds: 0 to {self.bounds.max_grace_seconds:g}", param="grace_seconds")
            now = self.clock()
            secret = new_secret(key_id)
            newest = current(record, now)[:1]  # the secret in use keeps working for the grace period
            kept = [msgspec.structs.replace(s, valid_until=now + request.grace_seconds) for s in newest]
            rotated = msgspec.structs.replace(record, secrets=[SecretHash(secret_hash(secret)), *kept])
            await self.records.put("keys", key_id, msgspec.json.encode(rotated))
            details.update(grace_seconds=request.grace_seconds)
        await self.directory.refresh()
        return rotated, secret

    async def revoke_key(self, caller: Caller, key_id: str) -> KeyRecord:
        async with self.audit.action(caller, "key.revoke", f"tbk_{key_id}"):
            record = await self.live_key(key_id)
            revoked = msgspec.structs.replace(record, revoked=self.clock())
            await self.records.put("keys", key_id, msgspec.json.encode(revoked))
        await self.directory.refresh()
        return revoked

    async def live_key(self, key_id: str) -> KeyRecord:
        await self.directory.refresh()
        record = self.directory.keys.get(key_id)
        if record is None:
            raise NotFoundError(f"no key tbk_{key_id}")
        if record.revoked is not None:
            raise ConflictError(f"key tbk_{key_id} is revoked")
        return record

    def check_key_request(self, request: KeyRequest) -> None:
        if not request.name.strip() or len(request.name) > MAX_KEY_NAME_CHARS:
            raise BadRequestError(f"name: 1 to {MAX_KEY_NAME_CHARS} characters", param="name")
        if request.team != DEFAULT_TEAM and request.team not in self.directory.teams:
            raise NotFoundError(f"no team {request.team!r}: create it first (POST /v1/admin/teams)")
        if not request.scopes:
            raise BadRequestError(f"scopes: at least one of {[s.value for s in Scope]}", param="scopes")
        if len(request.models) > self.bounds.max_models_per_key or any(not m.strip() for m in request.models):
            raise BadRequestError(f"models: at most {self.bounds.max_models_per_key} names", param="models")
        if any(value < 0 for value in msgspec.structs.astuple(request.limits)):
            raise BadRequestError("limits: 0 (the gateway's default) or more", param="limits")
        if request.expires_in_seconds is not None and request.expires_in_seconds <= 0:
            raise BadRequestError("expires_in_seconds: more than 0", param="expires_in_seconds")
        if len(self.directory.keys) >= self.bounds.max_keys:
            raise PayloadTooLargeError(f"at most {self.bounds.max_keys} keys (TUTORBOOK_GATEWAY_KEYS__MAX_KEYS)")


def check_team_request(request: TeamRequest) -> None:
    if not is_team_name(request.name):
        wrong = f"team name: lowercase letters, digits and '-', at most 63, not {PUBLIC!r}"
        raise BadRequestError(wrong, param="name")
    if len(request.description) > MAX_DESCRIPTION_CHARS or request.state_bytes < 0:
        raise BadRequestError(f"description: at most {MAX_DESCRIPTION_CHARS} characters; state_bytes: 0 or more")


def current(record: KeyRecord, now: float) -> list[SecretHash]:
    """The secrets that work now, the newest first."""
    return [s for s in record.secrets if s.valid_until is None or now < s.valid_until]
