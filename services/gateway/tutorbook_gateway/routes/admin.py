"""Teams, keys and the audit log (``/v1/admin``, admin scope): thin routes over
:mod:`tutorbook_gateway.access.admin`. A key's secret is in the answer that creates or rotates it, and in
no other answer, log or record."""

from typing import Any

import msgspec
from litestar import Request, Router, delete, get, post

from tutorbook_gateway.access.admin import KeyRequest, RotateRequest, TeamRequest
from tutorbook_gateway.access.model import KEY_PREFIX, KeyRecord, Scope
from tutorbook_gateway.auth import caller_of, require_scope
from tutorbook_gateway.services import Services
from tutorbook_service.errors import BadRequestError, NotFoundError

MAX_LISTED = 1000
AnyRequest = Request[Any, Any, Any]


def bare_id(key_id: str) -> str:
    """A key named by its id or by its prefix (``tbk_<id>``)."""
    return key_id.removeprefix(KEY_PREFIX)


def with_secret(record: KeyRecord, secret: str) -> dict[str, Any]:
    return {**record.public(), "key": secret, "note": "the key is shown once: store it now"}


def checked_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LISTED:
        raise BadRequestError(f"limit must be between 1 and {MAX_LISTED}", param="limit")
    return limit


@post("/teams", status_code=201)
async def create_team(data: TeamRequest, request: AnyRequest, services: Services) -> dict[str, Any]:
    team = await services.access.admin.create_team(caller_of(request), data)
    return msgspec.to_builtins(team)  # type: ignore[no-any-return]


@get("/teams")
async def list_teams(services: Services) -> dict[str, Any]:
    await services.access.directory.refresh()  # what another replica just wrote
    teams = sorted(services.access.directory.teams.values(), key=lambda team: team.name)
    return {"object": "list", "data": msgspec.to_builtins(teams)}


@post("/keys", status_code=201)
async def create_key(data: KeyRequest, request: AnyRequest, services: Services) -> dict[str, Any]:
    record, secret = await services.access.admin.create_key(caller_of(request), data)
    return with_secret(record, secret)


@get("/keys")
async def list_keys(services: Services, team: str | None = None) -> dict[str, Any]:
    await services.access.directory.refresh()
    keys = [key for key in services.access.directory.keys.values() if team is None or key.team == team]
    return {"object": "list", "data": [key.public() for key in sorted(keys, key=lambda key: key.created)]}


@get("/keys/{key_id:str}")
async def show_key(key_id: str, services: Services) -> dict[str, Any]:
    await services.access.directory.refresh()
    record = services.access.directory.keys.get(bare_id(key_id))
    if record is None:
        raise NotFoundError(f"no key {key_id}")
    return record.public()


@post("/keys/{key_id:str}/rotate", status_code=200)
async def rotate_key(key_id: str, data: RotateRequest, request: AnyRequest, services: Services) -> dict[str, Any]:
    record, secret = await services.access.admin.rotate_key(caller_of(request), bare_id(key_id), data)
    return with_secret(record, secret)


@delete("/keys/{key_id:str}", status_code=200)
async def revoke_key(key_id: str, request: AnyRequest, services: Services) -> dict[str, Any]:
    """Revoke: refused by every gateway replica within ``keys.refresh_seconds``; the record stays listed."""
    return (await services.access.admin.revoke_key(caller_of(request), bare_id(key_id))).public()


@get("/audit")
async def read_audit(services: Services, limit: int = 100, action: str | None = None) -> dict[str, Any]:
    """The newest admin actions first; ``action`` keeps those starting with it (``key.``, ``adapter.``)."""
    entries = await services.access.audit.newest(checked_limit(limit), action)
    return {"object": "list", "data": msgspec.to_builtins(entries)}


admin_router = Router(
    path="/v1/admin",
    guards=[require_scope(Scope.ADMIN)],
    route_handlers=[create_team, list_teams, create_key, list_keys, show_key, rotate_key, revoke_key, read_audit],
)
