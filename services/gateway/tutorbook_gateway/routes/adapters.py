from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, delete, get, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body

from tutorbook_gateway.access.audit import AuditLog
from tutorbook_gateway.access.model import Scope
from tutorbook_gateway.adapters.lifecycle import AdapterAdmin
from tutorbook_gateway.auth import caller_of, require_scope
from tutorbook_service.errors import BODY_TOO_LARGE

AnyRequest = Request[Any, Any, Any]
MULTIPART_OVERHEAD_BYTES = 64 * 1024  # the form's boundaries and headers around the archive


@dataclass
class AdapterUpload:
    file: UploadFile


class Activation(msgspec.Struct, forbid_unknown_fields=True):
    version: int


def admin_of(state: State) -> AdapterAdmin:
    admin: AdapterAdmin = state.adapter_admin
    return admin


def managing_team(request: AnyRequest) -> str | None:
    """None for an admin (every adapter); a team's key manages its team's private adapters only."""
    caller = caller_of(request)
    return None if caller.may(Scope.ADMIN) else caller.team


def audit_of(state: State) -> AuditLog:
    audit: AuditLog = state.services.access.audit
    return audit


async def upload_adapter(
    data: Annotated[AdapterUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    state: State,
    request: AnyRequest,
    activate: bool = True,
) -> dict[str, Any]:
    """Multipart upload (field ``file``) of a .tar.gz or .zip of a PEFT adapter folder with its card. The
    archive is never held whole in memory: the form parser streams it to a temporary file (in memory up
    to 1 MiB, then in /tmp), which is read from there and deleted after the request. ``?activate=false``
    stores it without activating it (a candidate for a rollout)."""
    try:
        async with audit_of(state).action(caller_of(request), "adapter.upload", data.file.filename) as details:
            uploaded = await admin_of(state).upload(data.file.file, managing_team(request), activate)
            details.update(name=uploaded.get("name"), version=uploaded.get("version"))
        return uploaded
    finally:
        await data.file.close()


@get("/")
async def list_adapters(state: State, request: AnyRequest) -> dict[str, Any]:
    """Every adapter with its versions (a team's key: its team's), and what each generator replica serves."""
    admin = admin_of(state)
    return {"object": "list", "data": admin.listing(managing_team(request)), "replicas": await admin.replicas()}


@get("/{name:str}", sync_to_thread=False)
def show_adapter(name: str, state: State, request: AnyRequest) -> dict[str, Any]:
    admin_of(state).check_owner(name, managing_team(request))
    return admin_of(state).describe(name)


@post("/{name:str}/activate", status_code=200)
async def activate_adapter(name: str, data: Activation, state: State, request: AnyRequest) -> dict[str, Any]:
    """Make ``version`` the active one (a rollback is activating an earlier version)."""
    admin = admin_of(state)
    async with audit_of(state).action(caller_of(request), "adapter.activate", f"{name}@{data.version}"):
        admin.check_owner(name, managing_team(request))
        loads = await admin.activate(name, data.version)
    return {**admin.describe(name), "loads": loads}


@delete("/{name:str}", status_code=200)
async def delete_adapter(name: str, state: State, request: AnyRequest, version: int | None = None) -> dict[str, Any]:
    """Delete one version (``?version=N``, not the active one) or the whole adapter."""
    target = name if version is None else f"{name}@{version}"
    async with audit_of(state).action(caller_of(request), "adapter.delete", target):
        admin_of(state).check_owner(name, managing_team(request))
        return await admin_of(state).delete(name, version)


def adapters_router(max_archive_bytes: int) -> Router:
    """The admin routes; an upload's body may be no larger than the archive limit (413 above it, counted
    as it streams in)."""
    too_large = f"the archive is larger than {max_archive_bytes} bytes (TUTORBOOK_GATEWAY_ADAPTERS__MAX_UPLOAD_BYTES)"
    upload = post(
        "/",
        status_code=201,
        request_max_body_size=max_archive_bytes + MULTIPART_OVERHEAD_BYTES,
        opt={BODY_TOO_LARGE: too_large},
    )
    return Router(
        path="/v1/adapters",
        guards=[require_scope(Scope.ADAPTERS)],
        route_handlers=[upload(upload_adapter), list_adapters, show_adapter, activate_adapter, delete_adapter],
    )
