"""API keys: bearer keys for chat, admin keys for admin endpoints. Constant-time comparison."""

import enum
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from tutorbook_common.errors import ForbiddenError, UnauthorizedError


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


def authenticate(authorization: str | None, keys: KeyRing) -> Role:
    token = bearer_token(authorization)
    if token is None:
        raise UnauthorizedError("missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
    role = keys.role_of(token)
    if role is None:
        raise UnauthorizedError("invalid API key")
    return role


def count_auth_failure(connection: ASGIConnection[Any, Any, Any, Any], reason: str) -> None:
    connection.app.state.services.metrics.auth_failures.labels(reason=reason).inc()


async def require_api_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Let any known key in, and note its fingerprint on the request (sessions and limits are per key).
    Async on purpose: Litestar runs a sync guard in a worker thread, a thread hop on every request."""
    authorization = connection.headers.get("authorization")
    try:
        authenticate(authorization, connection.app.state.services.keys)
    except UnauthorizedError as exc:
        count_auth_failure(connection, exc.code or "invalid")
        raise
    connection.state.key_fingerprint = key_fingerprint(bearer_token(authorization) or "")


async def require_admin_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    try:
        role = authenticate(connection.headers.get("authorization"), connection.app.state.services.keys)
    except UnauthorizedError as exc:
        count_auth_failure(connection, exc.code or "invalid")
        raise
    if role is not Role.ADMIN:
        count_auth_failure(connection, "not_admin")
        raise ForbiddenError("this endpoint needs an admin key")
