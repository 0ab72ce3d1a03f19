"""API keys: every request names its caller with a bearer key (:mod:`tutorbook_gateway.access`); each
endpoint needs a scope (chat, documents, adapters, admin).

Every request needs a known key (:class:`ApiKeyMiddleware`), except the probes, metrics and the page's own
files (``/`` and ``/ui/``; the page asks for a key and sends it with every API call): a route added
later is protected without anyone remembering to. Endpoints beyond chat add :func:`require_scope`.
"""

from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import MiddlewareProtocol
from litestar.types import ASGIApp, Guard, Receive, Send
from litestar.types import Scope as AsgiScope

from tutorbook_gateway.access.directory import Caller, KeyDirectory
from tutorbook_gateway.access.model import Scope
from tutorbook_service.errors import ForbiddenError, UnauthorizedError, send_service_error

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/"})
PUBLIC_PREFIX = "/ui/"  # the page's scripts and styles: the page asks for a key, then sends it to the API
AUTHORIZATION = b"authorization"


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(authorization: str | None, keys: KeyDirectory) -> Caller:
    token = bearer_token(authorization)
    if token is None:
        raise UnauthorizedError("missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
    caller = keys.identify(token)
    if caller is None:
        raise UnauthorizedError("invalid API key (unknown, revoked, expired, or rotated out)")
    return caller


def authorization_header(scope: AsgiScope) -> str | None:
    for name, value in scope["headers"]:
        if name.lower() == AUTHORIZATION:
            return bytes(value).decode("latin-1")
    return None


class ApiKeyMiddleware(MiddlewareProtocol):
    """Refuse (401) a request without a known key; note the caller on the scope for the handlers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and not is_public(scope["path"]):
            services = scope["litestar_app"].state.services
            try:
                caller = authenticate(authorization_header(scope), services.access.directory)
            except UnauthorizedError as exc:
                services.metrics.auth_failures.labels(reason=exc.code or "invalid").inc()
                await send_service_error(send, exc)
                return
            scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIX)


def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    caller: Caller = connection.scope["state"]["caller"]
    return caller


def require_scope(scope: Scope) -> Guard:
    """A guard: the caller's key has ``scope`` (or ``admin``), else 403 naming it."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        # async on purpose: Litestar runs a sync guard in a worker thread, a thread hop on every request
        if not caller_of(connection).may(scope):
            connection.app.state.services.metrics.auth_failures.labels(reason=f"no_{scope.value}_scope").inc()
            raise ForbiddenError(f"this endpoint needs a key with the {scope.value!r} scope")

    return guard


require_admin_key = require_scope(Scope.ADMIN)
