"""OpenTelemetry traces, when ``TUTORBOOK_OTLP_ENDPOINT`` is set: each service exports its spans over
OTLP/HTTP to that collector, one trace per request across the gateway, the retriever and vLLM (the trace
context travels in the W3C ``traceparent`` header, and vLLM exports its own spans to the same collector).

Unset, nothing here is built: no provider, no exporter thread, no middleware; the chat path's step spans
(:func:`tutorbook_service.request_context.traced`) then cost one context-variable read each.
"""

from dataclasses import dataclass

from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from tutorbook_service.request_context import (
    REQUEST_ID_ATTRIBUTE,
    TRACE_PROPAGATOR,
    current_request_id,
    tracer_var,
)

TRACE_HEADERS = (b"traceparent", b"tracestate")


@dataclass(frozen=True)
class Tracing:
    """A service's tracer, and the provider that exports its spans (shut down with the service)."""

    tracer: Tracer
    provider: TracerProvider

    def close(self) -> None:
        self.provider.shutdown()  # exports what is left


def open_tracing(service: str, traces_url: str) -> Tracing | None:
    """None when ``traces_url`` (:meth:`~tutorbook_config.shared.SharedSettings.otlp_traces_url`) is empty:
    nothing is traced."""
    if not traces_url:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": f"tutorbook-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url)))
    return Tracing(provider.get_tracer("tutorbook"), provider)


class TracingMiddleware:
    """ASGI middleware (after the request id's): a server span per HTTP request, continuing the caller's
    trace when it sent ``traceparent``, with the request id and the response status on it; the request's
    steps and outgoing calls join it."""

    def __init__(self, app: ASGIApp, tracer: Tracer) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k in TRACE_HEADERS}
        method, path = scope["method"], scope["path"]
        attributes = {REQUEST_ID_ATTRIBUTE: current_request_id() or "", "http.request.method": method, "url.path": path}
        with self.tracer.start_as_current_span(
            f"{method} {path}", context=TRACE_PROPAGATOR.extract(carrier), kind=SpanKind.SERVER, attributes=attributes
        ) as span:

            async def send_with_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                    if message["status"] >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            token = tracer_var.set(self.tracer)
            try:
                await self.app(scope, receive, send_with_status)
            finally:
                tracer_var.reset(token)


def tracing_middleware(tracing: Tracing | None) -> list[DefineMiddleware]:
    """The middleware a service adds after its request ids: none when it does not trace."""
    return [DefineMiddleware(TracingMiddleware, tracer=tracing.tracer)] if tracing else []
