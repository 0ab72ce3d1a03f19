"""Traces: unset, a request's steps make no span and its calls carry no trace context; set, the gateway's
request span continues the caller's trace, its steps are its children, and its calls carry the context."""

import asyncio

from litestar import Litestar, get
from litestar.testing import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tutorbook_config.shared import SharedSettings
from tutorbook_service.request_context import RequestIdMiddleware, trace_headers, traced
from tutorbook_service.tracing import Tracing, tracing_middleware

CALLER_TRACE, CALLER_SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


def test_unset_nothing_is_traced_and_no_trace_context_is_sent() -> None:
    with traced("step") as span:
        assert span is None
    assert trace_headers() == {}
    assert tracing_middleware(None) == []


def test_the_collector_url_is_its_traces_path() -> None:
    assert SharedSettings(otlp_endpoint="http://collector:4318/").otlp_traces_url() == "http://collector:4318/v1/traces"
    assert SharedSettings(otlp_endpoint="http://c:4318/v1/traces").otlp_traces_url() == "http://c:4318/v1/traces"
    assert SharedSettings().otlp_traces_url() == ""


def test_a_request_continues_the_callers_trace_with_its_steps_and_outgoing_context() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sent: list[dict[str, str]] = []

    @get("/work")
    async def work() -> str:
        with traced("step"):
            await asyncio.sleep(0)
            sent.append(trace_headers())
        return "done"

    tracing = Tracing(provider.get_tracer("test"), provider)
    app = Litestar([work], middleware=[RequestIdMiddleware, *tracing_middleware(tracing)])
    with TestClient(app) as client:
        headers = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01", "x-request-id": "req-7"}
        assert client.get("/work", headers=headers).status_code == 200
    spans = {span.name: span for span in exporter.get_finished_spans()}
    request, step = spans["GET /work"], spans["step"]
    assert request.parent is not None and f"{request.parent.span_id:016x}" == CALLER_SPAN
    assert f"{request.context.trace_id:032x}" == CALLER_TRACE == f"{step.context.trace_id:032x}"
    assert step.parent is not None and step.parent.span_id == request.context.span_id
    assert step.attributes == {"tutorbook.request_id": "req-7"}
    assert sent[0]["traceparent"].split("-")[1:3] == [CALLER_TRACE, f"{step.context.span_id:016x}"]
