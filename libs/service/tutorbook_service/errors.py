"""One error base per service, rendered in the OpenAI error shape.

``{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}`` is what the official OpenAI SDKs
parse, so product apps see our 4xx errors the way they see OpenAI's.
"""

import logging
import math
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE
from litestar.types import ExceptionHandlersMap, HTTPResponseBodyEvent, HTTPResponseStartEvent, Send

log = logging.getLogger(__name__)

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "upstream_timeout",
}


class ServiceError(Exception):
    """Base of every error a Tutorbook service raises on purpose; subclasses carry the HTTP status."""

    status_code = 500
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers: dict[str, str] = {}
        if code is not None:
            self.code = code


class BadRequestError(ServiceError):
    status_code = 400
    code = "invalid_request"


class UnauthorizedError(ServiceError):
    status_code = 401
    code = "invalid_api_key"


class ForbiddenError(ServiceError):
    status_code = 403
    code = "admin_key_required"


class NotFoundError(ServiceError):
    status_code = 404
    code = "not_found"


class ConflictError(ServiceError):
    status_code = 409
    code = "conflict"


class PayloadTooLargeError(ServiceError):
    status_code = 413
    code = "payload_too_large"


class RateLimitedError(ServiceError):
    """429 with ``Retry-After`` (whole seconds, rounded up), as the OpenAI SDKs expect."""

    status_code = 429
    code = "rate_limit_exceeded"

    def __init__(
        self, limit: str, allowed: int, retry_after_seconds: float, per: str = "per minute", whom: str = "this key"
    ) -> None:
        wait = max(1, math.ceil(retry_after_seconds))
        super().__init__(f"rate limit reached: {allowed} {limit} {per} for {whom}; retry in {wait} s")
        self.headers = {"Retry-After": str(wait)}
        self.limit = limit


class ServiceUnavailableError(ServiceError):
    status_code = 503
    code = "service_unavailable"


class UpstreamError(ServiceError):
    status_code = 502
    code = "upstream_error"


class UpstreamTimeoutError(ServiceError):
    status_code = 504
    code = "upstream_timeout"


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": ERROR_TYPES.get(status, "server_error"),
            "param": param,
            "code": code,
        }
    }


async def send_service_error(send: Send, exc: ServiceError) -> None:
    """Answer an ASGI request with ``exc`` in the OpenAI shape, from middleware (which runs outside the
    app's exception handlers)."""
    body = msgspec.json.encode(error_body(exc.status_code, exc.message, exc.param, exc.code))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(name.lower().encode(), value.encode()) for name, value in exc.headers.items()]
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": exc.status_code, "headers": headers}
    await send(start)
    end: HTTPResponseBodyEvent = {"type": "http.response.body", "body": body, "more_body": False}
    await send(end)


def handle_service_error(_: Request[Any, Any, Any], exc: ServiceError) -> Response[dict[str, Any]]:
    body = error_body(exc.status_code, exc.message, exc.param, exc.code)
    return Response(body, status_code=exc.status_code, headers=exc.headers)


BODY_TOO_LARGE = "body_too_large"  # a route's ``opt``: what its 413 says when a body passes its limit


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    message = str(exc.detail)
    if exc.status_code == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        message = body_too_large(request)
    if isinstance(exc, ValidationException) and exc.extra:
        details = "; ".join(describe_validation_problem(item) for item in exc.extra)
        message = f"{message}: {details}"
    headers = dict(exc.headers or {})
    return Response(error_body(exc.status_code, message), status_code=exc.status_code, headers=headers)


def body_too_large(request: Request[Any, Any, Any]) -> str:
    """What a 413 for a body over its route's limit says: the route's own words, else the limit in bytes."""
    handler = request.scope.get("route_handler")
    if not isinstance(handler, HTTPRouteHandler):
        return "the request body is too large"
    said = handler.opt.get(BODY_TOO_LARGE)
    limit = handler.resolve_request_max_body_size()
    return str(said) if said else f"the request body is larger than {limit} bytes, the most this endpoint takes"


def describe_validation_problem(item: Any) -> str:
    if isinstance(item, dict):
        key = item.get("key")
        text = str(item.get("message", item))
        return f"{key}: {text}" if key else text
    return str(item)


def handle_unexpected_error(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error", exc_info=exc)
    return Response(error_body(500, "internal error"), status_code=500)


def error_handlers() -> ExceptionHandlersMap:
    """The exception handlers every service's create_app registers."""
    return {
        ServiceError: handle_service_error,
        HTTPException: handle_http_exception,
        Exception: handle_unexpected_error,
    }
