from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Request, Response, Router, delete, get, post

from tutorbook_gateway.access.model import Scope, visible_to
from tutorbook_gateway.auth import caller_of, require_scope
from tutorbook_gateway.services import GatewayServices, Retriever
from tutorbook_service.errors import BadRequestError, ForbiddenError

DOCUMENTS_PATH = "/v1/documents"
AUDITED_IDS = 20  # an audit entry names at most this many of a batch's documents


def document_path(doc_id: str | None) -> str:
    """The retriever's path for a document (or the collection): never anything else, whatever the id holds."""
    if doc_id is None:
        return DOCUMENTS_PATH
    segments = doc_id.strip("/").split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise BadRequestError("a document id has no empty, '.' or '..' parts", param="id")
    return f"{DOCUMENTS_PATH}/{quote(doc_id.strip('/'), safe='/')}"


async def forward(request: Request[Any, Any, Any], retriever: Retriever, doc_id: str | None = None) -> Response[bytes]:
    """Keys with the documents scope manage documents through the gateway; the retriever validates and
    answers. Every change is audited with its outcome."""
    body = await request.body() if request.method in {"POST", "PUT"} else b""
    caller = caller_of(request)
    query = request.url.query or ""
    if not caller.may(Scope.ADMIN):  # a team's key: sees its own documents and the public ones, changes its own
        body = within_team(body, caller.team) if body else body
        ours = [f"visible_to={','.join(visible_to(caller.team))}"]
        ours += [f"team={caller.team}"] if request.method in {"POST", "DELETE"} else []
        query = "&".join(part for part in (query, *ours) if part)
    forwarded = await retriever.forward(request.method, document_path(doc_id), body, query)
    if request.method != "GET":
        await audit_change(request, doc_id, forwarded.status_code, ingested_ids(body))
    return Response(forwarded.body, status_code=forwarded.status_code, media_type="application/json")


def within_team(body: bytes, team: str) -> bytes:
    """A team key's batch: each document without an access list gets its team's; one that names another
    team, or not its own, is refused (403) before anything is stored (so the team may change it later).
    The retriever refuses to replace a document whose access list does not name the team, and validates
    the rest."""
    try:
        batch = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return body  # the retriever says what is wrong with it
    documents = batch.get("documents") if isinstance(batch, dict) else None
    if not isinstance(documents, list):
        return body
    allowed = set(visible_to(team))
    for document in documents:
        if isinstance(document, dict):
            access = document.setdefault("access", [team])
            if isinstance(access, list) and (team not in access or not set(map(str, access)) <= allowed):
                raise ForbiddenError(
                    f"a key of team {team!r} gives documents the access [{team!r}] or {sorted(allowed)}, "
                    "naming its team"
                )
    return msgspec.json.encode(batch)


def ingested_ids(body: bytes) -> list[str]:
    """The ids of the documents a batch names (for the audit log; the retriever validates the batch)."""
    try:
        documents = msgspec.json.decode(body).get("documents") if body else None
    except (msgspec.DecodeError, UnicodeDecodeError, AttributeError):
        return []  # the retriever refused it, saying why
    return [str(d.get("id")) for d in documents if isinstance(d, dict)] if isinstance(documents, list) else []


async def audit_change(request: Request[Any, Any, Any], doc_id: str | None, status: int, ids: list[str]) -> None:
    action = "documents.ingest" if request.method == "POST" else "documents.delete"
    outcome = "ok" if status < 400 else f"refused: {status}"
    details = {"documents": len(ids), "ids": ids[:AUDITED_IDS]} if ids else {}
    services: GatewayServices = request.app.state.services
    await services.access.audit.record(caller_of(request), action, doc_id or "*", outcome, details)


@post("/", status_code=200)
async def ingest_documents(request: Request[Any, Any, Any], retriever: Retriever) -> Response[bytes]:
    return await forward(request, retriever)


@get("/")
async def list_documents(request: Request[Any, Any, Any], retriever: Retriever) -> Response[bytes]:
    return await forward(request, retriever)


@get("/{doc_id:path}")
async def get_document(request: Request[Any, Any, Any], retriever: Retriever, doc_id: str) -> Response[bytes]:
    return await forward(request, retriever, doc_id)


@delete("/{doc_id:path}", status_code=200)
async def delete_document(request: Request[Any, Any, Any], retriever: Retriever, doc_id: str) -> Response[bytes]:
    return await forward(request, retriever, doc_id)


documents_router = Router(
    path=DOCUMENTS_PATH,
    guards=[require_scope(Scope.DOCUMENTS)],
    route_handlers=[ingest_documents, list_documents, get_document, delete_document],
)
