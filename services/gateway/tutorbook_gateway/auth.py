"""API keys: bearer keys for chat, admin keys for admin endpoints. Constant-time comparison.

Every request needs a known key (:class:`ApiKeyMiddleware`), except the probes, metrics and the page's own
files (``/`` and ``/ui/``; the page asks for a key and sends it with every API call): a route added
later is protected without anyone remembering to. Admin endpoints add :func:`require_admin_key`.
"""

import enum
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import MiddlewareProtocol
from litestar.types import ASGIApp, Receive, Scope, Send

from tutorbook_service.errors import ForbiddenError, UnauthorizedError, send_service_error

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/"})
PUBLIC_PREFIX = "/ui/"  # the page's scripts and styles: the page asks for a key, then sends it to the API
AUTHORIZATION = b"authorization"


class Role(enum.Enum):
    USER = "user"
    ADMIN = "admin"


@dataclass(frozen=True)
class KeyRing:
    api_keys: frozenset[str]
    admin_keys: frozenset[str]

    def role_of(self, key: str) -> Role | None:
        """Compare against every key, so timing does not tell which keys exist."""
        is_admin = any([hmac.compare_digest(key.encode(), known.encode()) for known in self.admin_keys])
        is_user = any([hmac.compare_digest(key.encode(), known.encode()) for known in self.api_keys])
        if is_admin:
            return Role.ADMIN
        return Role.USER if is_user else None


@dataclass(frozen=True)
class KeyHolder:
    """Who is asking: the key's role, and its fingerprint (sessions, limits and logs name keys by it)."""

    role: Role
    fingerprint: str


def key_fingerprint(api_key: str) -> str:
    """How a key is named in state, logs and settings: never the key itself."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(authorization: str | None, keys: KeyRing) -> KeyHolder:
    token = bearer_token(authorization)
    if token is None:
        raise UnauthorizedError("missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
    role = keys.role_of(token)
    if role is None:
        raise UnauthorizedError("invalid API key")
    return KeyHolder(role, key_fingerprint(token))


def authorization_header(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name.lower() == AUTHORIZATION:
            return bytes(value).decode("latin-1")
    return None


class ApiKeyMiddleware(MiddlewareProtocol):
    """Refuse (401) a request without a known key; note the caller on the scope for the handlers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and not is_public(scope["path"]):
            services = scope["litestar_app"].state.services
            try:
                holder = authenticate(authorization_header(scope), services.keys)
            except UnauthorizedError as exc:
                services.metrics.auth_failures.labels(reason=exc.code or "invalid").inc()
                await send_service_error(send, exc)
                return
            scope.setdefault("state", {})["key_holder"] = holder
        await self.app(scope, receive, send)


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIX)


def key_holder_of(connection: ASGIConnection[Any, Any, Any, Any]) -> KeyHolder:
    holder: KeyHolder = connection.scope["state"]["key_holder"]
    return holder


async def require_admin_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Async on purpose: Litestar runs a sync guard in a worker thread, a thread hop on every request."""
    if key_holder_of(connection).role is not Role.ADMIN:
        connection.app.state.services.metrics.auth_failures.labels(reason="not_admin").inc()
        raise ForbiddenError("this endpoint needs an admin key")
