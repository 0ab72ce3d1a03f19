"""Keys: bootstrap keys from the settings, runtime keys made, rotated and revoked by admins, each belonging
to a team with scopes; a secret shown once and kept only as a hash; every admin action audited."""

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import msgspec
import pytest

from tutorbook_gateway.access.admin import AccessAdmin, AccessBounds, KeyRequest, RotateRequest, TeamRequest
from tutorbook_gateway.access.audit import AuditLog
from tutorbook_gateway.access.directory import Caller, KeyDirectory, bootstrap_callers, key_fingerprint
from tutorbook_gateway.access.model import KeyLimits, Scope
from tutorbook_gateway.access.records import MemoryRecords
from tutorbook_gateway.auth import authenticate, bearer_token
from tutorbook_service.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    UnauthorizedError,
)

T = TypeVar("T")
BOUNDS = AccessBounds(max_teams=3, max_keys=4, max_models_per_key=2, max_grace_seconds=3600)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def access(records: MemoryRecords | None = None, clock: Clock | None = None) -> tuple[AccessAdmin, KeyDirectory]:
    records, clock = records or MemoryRecords(), clock or Clock()
    directory = KeyDirectory(records, bootstrap_callers(["user-1"], ["admin-1"]), clock)
    audit = AuditLog(records, keep=100, clock=clock)
    return AccessAdmin(records, directory, audit, BOUNDS, clock), directory


ADMIN = Caller("admin-fingerprint", "default", frozenset(Scope))


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer ", None), (None, None), ("", None)],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_bootstrap_keys_are_a_user_and_an_admin_of_the_default_team() -> None:
    _, directory = access()
    user, admin = authenticate("Bearer user-1", directory), authenticate("Bearer admin-1", directory)
    assert (user.role, admin.role) == ("user", "admin") and user.team == admin.team == "default"
    assert user.may(Scope.CHAT) and not user.may(Scope.DOCUMENTS) and admin.may(Scope.ADAPTERS)
    assert user.owner == key_fingerprint("user-1") and "user-1" not in user.owner


@pytest.mark.parametrize("header", [None, "Bearer nope", "Token user-1", "Bearer tbk_0123456789_" + "x" * 43])
def test_missing_or_wrong_keys_are_refused(header: str | None) -> None:
    _, directory = access()
    with pytest.raises(UnauthorizedError):
        authenticate(header, directory)


def test_a_runtime_key_belongs_to_its_team_and_its_secret_is_kept_only_as_a_hash() -> None:
    admin, directory = access()
    run(admin.create_team(ADMIN, TeamRequest("support")))
    limits = KeyLimits(requests_per_minute=30, in_flight=2)
    request = KeyRequest("helpdesk", "support", [Scope.CHAT, Scope.DOCUMENTS], ["triage"], limits)
    record, secret = run(admin.create_key(ADMIN, request))
    caller = directory.identify(secret)
    assert caller is not None and caller.team == "support" and caller.owner == f"key-{record.id}"
    assert caller.scopes == {Scope.CHAT, Scope.DOCUMENTS} and caller.limits == limits
    assert caller.may_use("triage") and caller.may_use("triage@3") and not caller.may_use("auto")
    assert secret.startswith(record.prefix + "_") and secret not in msgspec.json.encode(record).decode()
    assert "secrets" not in record.public() and secret not in str(record.public())


def test_a_rotated_key_s_old_secret_works_for_its_grace_period_only() -> None:
    clock = Clock()
    admin, directory = access(clock=clock)
    record, old = run(admin.create_key(ADMIN, KeyRequest("app")))
    _, new = run(admin.rotate_key(ADMIN, record.id, RotateRequest(grace_seconds=60)))
    assert directory.identify(old) is not None and directory.identify(new) is not None
    clock.now += 61
    assert directory.identify(old) is None and directory.identify(new) is not None
    _, newest = run(admin.rotate_key(ADMIN, record.id, RotateRequest(grace_seconds=0)))
    assert directory.identify(new) is None and directory.identify(newest) is not None
    with pytest.raises(BadRequestError, match="grace_seconds"):
        run(admin.rotate_key(ADMIN, record.id, RotateRequest(grace_seconds=7200)))


def test_a_revoked_or_expired_key_is_refused_and_stays_listed() -> None:
    clock = Clock()
    admin, directory = access(clock=clock)
    revoked, secret = run(admin.create_key(ADMIN, KeyRequest("old app")))
    run(admin.revoke_key(ADMIN, revoked.id))
    assert directory.identify(secret) is None and directory.keys[revoked.id].revoked == clock.now
    with pytest.raises(ConflictError, match="revoked"):
        run(admin.revoke_key(ADMIN, revoked.id))
    _, expiring = run(admin.create_key(ADMIN, KeyRequest("trial", expires_in_seconds=10)))
    assert directory.identify(expiring) is not None
    clock.now += 10
    assert directory.identify(expiring) is None


def test_another_replica_sees_a_revocation_at_its_next_refresh() -> None:
    records = MemoryRecords()
    admin, _ = access(records)
    record, secret = run(admin.create_key(ADMIN, KeyRequest("app")))
    replica = KeyDirectory(records, {})
    assert run(replica.refresh()) and replica.identify(secret) is not None
    assert not run(replica.refresh())  # nothing changed: nothing read again
    run(admin.revoke_key(ADMIN, record.id))
    assert run(replica.refresh()) and replica.identify(secret) is None


@pytest.mark.parametrize(
    ("request_", "error", "said"),
    [
        (KeyRequest("x", team="nobody"), NotFoundError, "no team 'nobody'"),
        (KeyRequest(""), BadRequestError, "name"),
        (KeyRequest("x", scopes=[]), BadRequestError, "scopes"),
        (KeyRequest("x", models=["a", "b", "c"]), BadRequestError, "at most 2"),
        (KeyRequest("x", limits=KeyLimits(tokens_per_minute=-1)), BadRequestError, "limits"),
        (KeyRequest("x", expires_in_seconds=0), BadRequestError, "expires_in_seconds"),
    ],
)
def test_bad_key_requests_are_refused(request_: KeyRequest, error: type[Exception], said: str) -> None:
    admin, directory = access()
    with pytest.raises(error, match=said):
        run(admin.create_key(ADMIN, request_))
    assert not directory.keys


def test_teams_and_keys_are_bounded_and_team_names_checked() -> None:
    admin, _ = access()
    for name in ("a", "b", "c"):
        run(admin.create_team(ADMIN, TeamRequest(name)))
    with pytest.raises(ConflictError):
        run(admin.create_team(ADMIN, TeamRequest("a")))
    with pytest.raises(PayloadTooLargeError, match="MAX_TEAMS"):
        run(admin.create_team(ADMIN, TeamRequest("d")))
    with pytest.raises(BadRequestError, match="team name"):
        run(admin.create_team(ADMIN, TeamRequest("Not A Name")))
    for number in range(4):
        run(admin.create_key(ADMIN, KeyRequest(f"k{number}")))
    with pytest.raises(PayloadTooLargeError, match="MAX_KEYS"):
        run(admin.create_key(ADMIN, KeyRequest("one too many")))


def test_every_admin_action_is_audited_without_a_secret() -> None:
    admin, _ = access()
    record, secret = run(admin.create_key(ADMIN, KeyRequest("app")))
    _, rotated = run(admin.rotate_key(ADMIN, record.id, RotateRequest(grace_seconds=5)))
    run(admin.revoke_key(ADMIN, record.id))
    with pytest.raises(NotFoundError):
        run(admin.create_key(ADMIN, KeyRequest("x", team="nobody")))
    entries = run(admin.audit.newest(10))
    assert [(e.action, e.outcome.split(":")[0]) for e in entries] == [
        ("key.create", "refused"),
        ("key.revoke", "ok"),
        ("key.rotate", "ok"),
        ("key.create", "ok"),
    ]
    assert all(e.actor == "admin-fingerprint" for e in entries) and entries[1].target == record.prefix
    logged = msgspec.json.encode(entries).decode()
    assert secret not in logged and rotated not in logged and "404" in entries[0].outcome
    assert [e.action for e in run(admin.audit.newest(10, "key.rotate"))] == ["key.rotate"]
