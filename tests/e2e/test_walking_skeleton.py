"""One product question answered end to end by real services, real vLLM included."""

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import eventually
from tests.e2e.conftest import ADMIN_KEY, API_KEY
from tutorbook_devstack.stack import Stack

pytestmark = pytest.mark.e2e


def ask(gateway_url: str, question: str, key: str | None = API_KEY, model: str = "auto") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"model": model, "messages": [{"role": "user", "content": question}], "max_tokens": 64}
    return httpx.post(f"{gateway_url}/v1/chat/completions", json=body, headers=headers, timeout=120)


def test_sample_knowledge_base_loads_through_the_gateway(sample_knowledge_base: tuple[int, int]) -> None:
    documents, chunks = sample_knowledge_base
    assert documents == 36 and chunks >= documents


def test_product_question_is_answered_from_the_gold_document(gateway_url: str, sample_knowledge_base: object) -> None:
    response = ask(gateway_url, "How long is the warranty on Brightleaf products?")
    assert response.status_code == 200, response.text
    assert response.headers["x-tutorbook-route"] == "rag"
    body = response.json()
    tutorbook = body["tutorbook"]
    assert tutorbook["route"] == "rag"
    assert tutorbook["citations"][0]["doc_id"] == "warranty"
    answer = body["choices"][0]["message"]["content"]
    assert answer.strip(), "vLLM generated an empty answer"
    assert body["usage"]["completion_tokens"] > 0
    # What the answer says comes from the warranty document: a sentence of it, sent, that the claim check
    # found supported by a sentence of the warranty passage it cites (the default policy sends nothing else).
    from_warranty = [
        claim
        for claim in tutorbook["claims"]
        if claim["supported"]
        and not claim["hedge"]
        and claim["citation"] is not None
        and tutorbook["citations"][claim["citation"]]["doc_id"] == "warranty"
        and claim["quote"] in tutorbook["citations"][claim["citation"]]["text"]
        and claim["text"][:20] in answer
    ]
    assert from_warranty, f"no sentence of the answer is backed by the warranty document: {answer!r}, {tutorbook}"


def any_line(lines: Callable[[], list[dict[str, Any]]]) -> bool:
    return bool(lines())


def test_one_request_id_runs_through_the_json_logs(stack: Stack, sample_knowledge_base: object) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "x-request-id": "e2e-trace-42"}
    body = {"model": "auto", "messages": [{"role": "user", "content": "How do I descale the espresso machine?"}]}
    response = httpx.post(f"{stack.config.gateway_url}/v1/chat/completions", json=body, headers=headers, timeout=120)
    assert response.headers["x-request-id"] == "e2e-trace-42"
    for service, message in (("gateway", "chat"), ("retriever", "search")):
        log = stack.services[service].log_path

        def traced(log: Path = log) -> list[dict[str, Any]]:
            lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
            return [line for line in lines if line.get("request_id") == "e2e-trace-42"]

        # The gateway logs an answer after it has been sent: wait for the line, never a fixed sleep.
        eventually(functools.partial(any_line, traced), what=f"{service}'s log line for the request")
        assert [line["message"] for line in traced()] == [message], service
        assert traced()[0]["service"] == service
    # vLLM takes the id as its own (it logs each request it adds, in this stack: --enable-log-requests).
    generator_log = stack.services["generator"].log_path
    eventually(lambda: "chatcmpl-e2e-trace-42" in generator_log.read_text(errors="replace"), 30, "vLLM's line")


def test_question_outside_the_knowledge_base_abstains(gateway_url: str, sample_knowledge_base: object) -> None:
    response = ask(gateway_url, "What is the capital of Mongolia?")
    assert response.status_code == 200
    assert response.headers["x-tutorbook-route"] == "abstain"
    assert response.json()["choices"][0]["message"]["content"].startswith("Not sure about the answer")


def test_requests_without_a_valid_key_are_refused(gateway_url: str) -> None:
    assert ask(gateway_url, "warranty?", key=None).status_code == 401
    assert ask(gateway_url, "warranty?", key="not-a-key").status_code == 401
    documents = {"documents": [{"id": "x", "text": "y"}]}
    plain = httpx.post(f"{gateway_url}/v1/documents", json=documents, headers={"Authorization": f"Bearer {API_KEY}"})
    assert plain.status_code == 403


def test_the_openai_sdk_works_unchanged(gateway_url: str, sample_knowledge_base: object) -> None:
    client = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=API_KEY)
    assert [model.id for model in client.models.list()][:2] == ["auto", "smollm2-135m-instruct"]
    completion = client.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=[{"role": "user", "content": "Say hello in one word."}],
        max_tokens=8,
    )
    assert completion.choices[0].message.content
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{gateway_url}/v1", api_key="wrong").models.list()


def test_a_bad_document_is_refused_and_the_index_is_intact(gateway_url: str, sample_knowledge_base: object) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    stored = httpx.get(f"{gateway_url}/v1/documents/warranty", headers=admin)  # through the gateway
    assert stored.status_code == 200 and stored.json()["id"] == "warranty", stored.text
    bad = {"documents": [{"id": "warranty", "text": "Warranty is 1 day."}, {"id": "", "text": "x"}]}
    response = httpx.post(f"{gateway_url}/v1/documents", json=bad, headers=admin)
    assert response.status_code == 400 and response.json()["error"]["param"] == "documents[1].id"
    assert httpx.get(f"{gateway_url}/v1/documents/warranty", headers=admin).json() == stored.json()
    answer = ask(gateway_url, "For how long are Brightleaf products under warranty?")  # asked only here
    assert answer.headers["x-tutorbook-cache"] == "miss"  # searched now, not read from the cache
    cited = answer.json()["tutorbook"]["citations"]
    assert "1 day" not in cited[0]["snippet"] and cited[0]["doc_id"] == "warranty"


def test_every_service_exposes_probes_and_metrics(stack: Stack, sample_knowledge_base: object) -> None:
    config = stack.config
    for port, metric in (
        (config.gateway_port, "tutorbook_gateway_chat_requests_total"),
        (config.retriever_port, "tutorbook_retriever_documents_ingested_total"),
        (config.generator_port, "vllm:"),
    ):
        base = config.url(port)
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert metric in httpx.get(f"{base}/metrics").text
