from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import State

from tutorbook_gateway.auth import require_admin_key
from tutorbook_gateway.services import GatewayServices


@post("/v1/documents", guards=[require_admin_key], status_code=200)
async def ingest_documents(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    """Admins ingest documents through the gateway; the retriever validates and answers."""
    services: GatewayServices = state.services
    forwarded = await services.retriever.forward_ingest(await request.body())
    return Response(forwarded.body, status_code=forwarded.status_code, media_type="application/json")
