"""Request ids: taken from ``x-request-id`` (when it looks like an id) or made up, returned in the response,
and available to logs and outgoing calls through a context variable. And, when the service traces
(:mod:`tutorbook_service.tracing`), the request's tracer: its steps' spans and the trace context its
outgoing calls carry."""

import re
import uuid
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware import MiddlewareProtocol
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry.trace import Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

REQUEST_ID_HEADER = "x-request-id"
VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

request_id_var: ContextVar[str | None] = ContextVar("tutorbook_request_id", default=None)
tracer_var: ContextVar[Tracer | None] = ContextVar("tutorbook_tracer", default=None)  # set while a request is traced
REQUEST_ID_ATTRIBUTE = "tutorbook.request_id"
TRACE_PROPAGATOR = TraceContextTextMapPropagator()


def current_request_id() -> str | None:
    return request_id_var.get()


def traced(step: str) -> AbstractContextManager[Any]:
    """A span for one step of the current request (with its request id) when the request is traced; else
    nothing, at the cost of one context-variable read."""
    tracer = tracer_var.get()
    if tracer is None:
        return nullcontext()
    return tracer.start_as_current_span(step, attributes={REQUEST_ID_ATTRIBUTE: current_request_id() or ""})


def trace_headers() -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) for an outgoing call, so the callee's spans join the trace."""
    if tracer_var.get() is None:
        return {}
    carrier: dict[str, str] = {}
    TRACE_PROPAGATOR.inject(carrier)
    return carrier


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == REQUEST_ID_HEADER.encode():
            candidate = value.decode("latin-1")
            if VALID_ID.fullmatch(candidate):
                return candidate
    return uuid.uuid4().hex


class RequestIdMiddleware(MiddlewareProtocol):
    """ASGI middleware: sets the request id for the request's context and adds it to the response headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(list(scope["headers"]))
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
