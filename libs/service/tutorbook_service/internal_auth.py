"""Internal services trust only the gateway: every request but the probes and ``/metrics`` must carry
``Authorization: Bearer <TUTORBOOK_INTERNAL_TOKEN>``, a secret the gateway shares with them."""

import hmac

from litestar.enums import ScopeType
from litestar.middleware import MiddlewareProtocol
from litestar.types import ASGIApp, Receive, Scope, Send

from tutorbook_service.errors import UnauthorizedError, send_service_error

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def bearer_header(token: str) -> dict[str, str]:
    """What the gateway (and operators' tools) send to an internal service."""
    return {"Authorization": f"Bearer {token}"}


def presented_token(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name.lower() == b"authorization":
            scheme, _, token = bytes(value).decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


class InternalTokenMiddleware(MiddlewareProtocol):
    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        guarded = scope["type"] == ScopeType.HTTP and scope["path"] not in OPEN_PATHS
        if guarded and not hmac.compare_digest(presented_token(scope).encode(), self._token):
            await send_service_error(send, UnauthorizedError("this internal service needs the internal token"))
            return
        await self.app(scope, receive, send)
