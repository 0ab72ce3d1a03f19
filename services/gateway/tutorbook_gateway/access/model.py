"""Who may call the gateway, as records: teams, and keys that belong to a team with scopes, the models they
may use, their own limits and an expiry. A key's secret is shown once, when it is made, and kept only as
a hash; the key is named everywhere else by its id (the secret's visible prefix).

A runtime key reads ``tbk_<id>_<secret>``: the id finds its record in one dictionary lookup, the hash of
the whole key is compared in constant time. Keys from the settings (``TUTORBOOK_GATEWAY_KEYS__API_KEYS``,
``..._ADMIN_KEYS``) keep working as bootstrap keys of the ``default`` team.
"""

import enum
import hashlib
import re
import secrets

import msgspec

from tutorbook_service.teams import PUBLIC

KEY_PREFIX = "tbk_"
ID_CHARS = 10  # hex digits of a key's id
SECRET_BYTES = 32
DEFAULT_TEAM = "default"
KEY_PATTERN = re.compile(rf"^{KEY_PREFIX}([0-9a-f]{{{ID_CHARS}}})_[A-Za-z0-9_-]{{20,100}}$")


class Scope(enum.StrEnum):
    """What a key may do. ``admin`` may do everything (keys, teams, the audit log, and the other scopes)."""

    CHAT = "chat"
    DOCUMENTS = "documents"  # ingest and delete documents
    ADAPTERS = "adapters"  # upload, activate and delete adapters
    ADMIN = "admin"


class KeyLimits(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A key's own limits; 0: the gateway's default for every key."""

    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    in_flight: int = 0  # requests at once, per gateway process
    state_bytes: int = 0  # conversations, feedback and claim records it may keep


class Team(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    created: float
    description: str = ""
    state_bytes: int = 0  # all its keys' kept state together; 0: no team budget


class SecretHash(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    sha256: str
    valid_until: float | None = None  # a rotated-out secret keeps working until then


class KeyRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    name: str
    team: str
    scopes: list[Scope]
    created: float
    secrets: list[SecretHash]
    models: list[str] = msgspec.field(default_factory=list)  # adapters and models it may name; empty: any
    limits: KeyLimits = KeyLimits()
    expires: float | None = None
    revoked: float | None = None

    @property
    def prefix(self) -> str:
        return f"{KEY_PREFIX}{self.id}"

    def active(self, now: float) -> bool:
        return self.revoked is None and (self.expires is None or now < self.expires)

    def public(self) -> dict[str, object]:
        """The record as admins see it: never a secret, nor a hash of one."""
        shown = msgspec.to_builtins(self)
        del shown["secrets"]
        return {**shown, "prefix": self.prefix, "previous_secret_valid_until": self.previous_secret_until()}

    def previous_secret_until(self) -> float | None:
        return max((s.valid_until for s in self.secrets if s.valid_until is not None), default=None)


def visible_to(team: str) -> list[str]:
    """What a team's requests may be answered from: its own documents and the public ones."""
    return [team, PUBLIC]


def secret_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key_id() -> str:
    return secrets.token_hex(ID_CHARS // 2)


def new_secret(key_id: str) -> str:
    return f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"


def key_id_of(key: str) -> str | None:
    """The id a runtime key names, or None (a bootstrap key, or not a key at all)."""
    match = KEY_PATTERN.match(key)
    return match.group(1) if match else None
