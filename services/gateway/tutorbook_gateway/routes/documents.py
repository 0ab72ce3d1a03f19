from typing import Any

from litestar import Request, Response, Router, delete, get, post
from litestar.datastructures import State

from tutorbook_gateway.auth import require_admin_key
from tutorbook_gateway.services import GatewayServices


async def forward(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    """Admins manage documents through the gateway; the retriever validates and answers."""
    services: GatewayServices = state.services
    body = await request.body() if request.method in {"POST", "PUT"} else b""
    forwarded = await services.chat.retriever.forward(request.method, request.url.path, body, request.url.query or "")
    return Response(forwarded.body, status_code=forwarded.status_code, media_type="application/json")


@post("/", status_code=200)
async def ingest_documents(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    return await forward(request, state)


@get("/")
async def list_documents(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    return await forward(request, state)


@get("/{doc_id:path}")
async def get_document(request: Request[Any, Any, Any], state: State, doc_id: str) -> Response[bytes]:
    return await forward(request, state)


@delete("/{doc_id:path}", status_code=200)
async def delete_document(request: Request[Any, Any, Any], state: State, doc_id: str) -> Response[bytes]:
    return await forward(request, state)


documents_router = Router(
    path="/v1/documents",
    guards=[require_admin_key],
    route_handlers=[ingest_documents, list_documents, get_document, delete_document],
)
