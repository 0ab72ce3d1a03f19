"""One trace per request across the stack: the stack exports OpenTelemetry traces to a receiver that
records them (``TUTORBOOK_OTLP_ENDPOINT``). A RAG question sent with a W3C ``traceparent`` is one trace:
the gateway's request span continues the caller's, its steps are its children, the retriever's search and
vLLM's request join it through the headers the gateway sends, and every span carries the request id
(vLLM's as its own request id, ``gen_ai.request.id``)."""

import secrets

import httpx
import pytest

from tests.conftest import eventually
from tests.e2e.conftest import API_KEY
from tests.e2e.otlp_receiver import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.e2e
GATEWAY_STEPS = {"validate", "state_read", "plan", "retrieve", "route", "generate", "claim_check", "state_write"}


def of(spans: list[ReceivedSpan], service: str) -> list[ReceivedSpan]:
    return [span for span in spans if span.service == service]


def test_a_rag_answer_is_one_trace_across_gateway_retriever_and_vllm(
    gateway_url: str, sample_knowledge_base: object, otlp_receiver: OtlpReceiver
) -> None:
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    request_id = f"e2e-traced-{secrets.token_hex(4)}"
    headers = {
        "Authorization": f"Bearer {API_KEY}",
        "traceparent": f"00-{trace_id}-{caller_span}-01",
        "x-request-id": request_id,
    }
    body = {"model": "auto", "messages": [{"role": "user", "content": "How long is the BrewMate Pro's warranty?"}],
            "max_tokens": 24, "tutorbook": {"route": "rag"}}  # fmt: skip
    answer = httpx.post(f"{gateway_url}/v1/chat/completions", json=body, headers=headers, timeout=150)
    assert answer.status_code == 200, answer.text

    def complete() -> bool:  # each service exports in batches (here every half second)
        spans = otlp_receiver.trace(trace_id)
        names = {span.name for span in of(spans, "tutorbook-gateway")}
        return (
            names >= GATEWAY_STEPS and bool(of(spans, "tutorbook-retriever")) and bool(of(spans, "tutorbook-generator"))
        )

    eventually(complete, 30, "the request's spans from the gateway, the retriever and vLLM", every=0.2)
    spans = otlp_receiver.trace(trace_id)
    gateway, retriever, vllm = (of(spans, f"tutorbook-{name}") for name in ("gateway", "retriever", "generator"))
    [request] = [span for span in gateway if span.name == "POST /v1/chat/completions"]
    assert request.parent_id == caller_span and request.attributes["http.response.status_code"] == 200
    by_id = {span.span_id: span for span in spans}
    for step in (span for span in gateway if span.name in GATEWAY_STEPS):  # each step within the request
        parent = step
        while parent.parent_id in by_id and parent is not request:
            parent = by_id[parent.parent_id]
        assert parent is request, step.name
    searches = [span for span in retriever if span.name == "POST /v1/search"]
    assert searches and {"embed", "candidates"} <= {span.name for span in retriever}
    [retrieve] = [span for span in gateway if span.name == "retrieve"]
    assert any(search.parent_id == retrieve.span_id for search in searches)  # within the gateway's step
    gateway_ids = {span.span_id for span in gateway}
    assert any(span.parent_id in gateway_ids for span in vllm), [(s.name, s.parent_id) for s in vllm]
    tutorbook_spans = gateway + retriever
    assert {span.attributes.get("tutorbook.request_id") for span in tutorbook_spans} == {request_id}
    vllm_ids = {str(span.attributes.get("gen_ai.request.id")) for span in vllm}  # vLLM's own: chatcmpl-<id>
    assert vllm_ids and all(request_id in vllm_id for vllm_id in vllm_ids), vllm_ids
