"""Adapter routes through the HTTP API: auto routing to an adapter, forcing one, classifiers, hints."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.unit.fakes import (
    STYLE_CARD,
    TRIAGE_CARD,
    USER,
    WARRANTY,
    FakeAdapterCatalog,
    FakeGenerator,
    FakeRetriever,
    chat,
)
from tutorbook_config.service_settings import configured
from tutorbook_gateway.adapters.catalog import ActiveAdapter
from tutorbook_gateway.app import create_app
from tutorbook_gateway.clients.upstream import ModelNotServedError
from tutorbook_gateway.routing import SMALL_TALK
from tutorbook_gateway.settings import GatewaySettings


@pytest.fixture
def retriever() -> FakeRetriever:
    return FakeRetriever([WARRANTY], route_matches={"triage": 0.8, SMALL_TALK: 0.1})


@pytest.fixture
def generator() -> FakeGenerator:
    return FakeGenerator()


@pytest.fixture
def client(retriever: FakeRetriever, generator: FakeGenerator) -> Iterator[TestClient[Litestar]]:
    settings = configured(
        GatewaySettings,
        keys__api_keys="user-key-for-tests-0001",
        keys__admin_keys="admin-key-for-tests-0001",
        shared__base_model_name="base",
    )
    catalog = FakeAdapterCatalog({"triage": ActiveAdapter(TRIAGE_CARD, 3), "style": ActiveAdapter(STYLE_CARD, 1)})
    app = create_app(settings, retriever=retriever, generator=generator, adapters=catalog)
    with TestClient(app) as test_client:
        yield test_client


def test_auto_sends_a_matching_request_to_the_classifier(client: TestClient[Litestar], generator) -> None:
    response = client.post("/v1/chat/completions", json=chat("I was charged twice"), headers=USER)
    assert response.status_code == 200 and response.headers["x-tutorbook-route"] == "adapter"
    body = response.json()
    assert body["tutorbook"]["adapter"] == {"name": "triage", "version": 3}
    assert response.headers["x-tutorbook-adapter"] == "triage@3"  # the version that answered, as a header too
    assert body["choices"][0]["message"]["content"] == "billing (0.90); related: returns (0.08), shipping (0.02)"
    assert body["tutorbook"]["classification"]["label"] == "billing"
    assert body["choices"][0]["logprobs"] is None
    [sent] = generator.payloads  # one request scores every label
    assert sent["model"] == "triage@3" and sent["prompt_logprobs"] == 0 and len(sent["prompt"]) == 3
    [prompt] = [p for p in generator.tokenized if p["messages"][-1]["role"] == "user" and len(p["messages"]) == 2]
    assert "billing, returns, shipping" in prompt["messages"][0]["content"]
    assert prompt["messages"][-1] == {"role": "user", "content": "I was charged twice"}


def test_the_answer_is_the_most_probable_label_and_no_runner_up_outranks_it(
    client: TestClient[Litestar], generator
) -> None:
    generator.label_probabilities = {"billing": 0.04, "returns": 0.07, "shipping": 0.01}
    body = client.post("/v1/chat/completions", json=chat("I was charged twice"), headers=USER).json()
    result = body["tutorbook"]["classification"]
    assert result["label"] == "returns" and result["confidence"] == pytest.approx(0.07 / 0.12, abs=1e-4)
    assert [r["label"] for r in result["runners_up"]] == ["billing", "shipping"]
    assert all(r["probability"] <= result["confidence"] for r in result["runners_up"])
    assert result["confidence"] + sum(r["probability"] for r in result["runners_up"]) == pytest.approx(1, abs=1e-3)


def test_label_tokens_are_rendered_once_per_label_set(client: TestClient[Litestar], generator) -> None:
    client.post("/v1/chat/completions", json=chat("I was charged twice"), headers=USER)
    first = len(generator.tokenized)
    client.post("/v1/chat/completions", json=chat("Where is my parcel?", model="triage"), headers=USER)
    assert first == 1 + 1 + 3 and len(generator.tokenized) == first + 1  # later: the prompt only


def test_a_classifier_answer_streams_as_chunks(client: TestClient[Litestar]) -> None:
    body = {**chat("I was charged twice"), "stream": True, "stream_options": {"include_usage": True}}
    with client.stream("POST", "/v1/chat/completions", json=body, headers=USER) as response:
        events = [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert chunks[0]["tutorbook"]["route"] == "adapter"
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]).startswith("billing")
    assert chunks[-1]["usage"]["completion_tokens"] == 3  # one scored position per label


def test_naming_an_adapter_that_wants_context_gets_passages(client: TestClient[Litestar], generator) -> None:
    response = client.post("/v1/chat/completions", json=chat("Write about the warranty", model="style"), headers=USER)
    assert response.headers["x-tutorbook-route"] == "adapter+rag"
    assert response.json()["tutorbook"]["citations"][0]["doc_id"] == "warranty"
    sent = generator.payloads[0]
    assert sent["model"] == "style@1" and "<sources>" in sent["messages"][-1]["content"]


def test_a_pinned_version_is_served(client: TestClient[Litestar], generator) -> None:
    client.post(
        "/v1/chat/completions", json=chat("hello", model="style@7", tutorbook={"route": "adapter"}), headers=USER
    )
    assert generator.payloads[0]["model"] == "style@7"


def test_route_hint_forces_rag(client: TestClient[Litestar], generator) -> None:
    body = chat("I was charged twice", tutorbook={"route": "rag"})
    response = client.post("/v1/chat/completions", json=body, headers=USER)
    assert response.headers["x-tutorbook-route"] == "rag"
    assert generator.payloads[0]["model"] == "base"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        (chat("x", tutorbook={"route": "fastest"}), 400, "tutorbook.route"),
        (chat("x", model="base", tutorbook={"route": "adapter"}), 400, "tutorbook.route"),
        (chat("x", tutorbook={"color": "red"}), 400, None),
        (chat("x", model="triage@x"), 404, "model"),
    ],
)
def test_bad_hints_are_refused(client: TestClient[Litestar], body: dict[str, object], status: int, param) -> None:
    response = client.post("/v1/chat/completions", json=body, headers=USER)
    assert response.status_code == status
    assert response.json()["error"]["param"] == param


def test_generation_errors_make_auto_skip_the_adapter(client: TestClient[Litestar], generator) -> None:
    async def broken(payload: dict[str, object]) -> dict[str, object]:
        from tutorbook_gateway.clients.upstream import UpstreamCallError

        raise UpstreamCallError("generator", "HTTP 500: LoRA failed")

    healthy = generator.completion
    generator.completion = broken
    for _ in range(3):
        assert client.post("/v1/chat/completions", json=chat("charged twice"), headers=USER).status_code == 502
    generator.completion = healthy
    response = client.post("/v1/chat/completions", json=chat("charged twice"), headers=USER)
    assert response.headers["x-tutorbook-route"] == "rag"
    assert "failed 3 recent requests" in response.json()["tutorbook"]["reason"]


def test_requests_the_generator_refuses_do_not_count_against_the_adapter(
    client: TestClient[Litestar], generator
) -> None:
    """A prompt too long for the model is the client's fault (vLLM answers 400): however many one key sends,
    the adapter stays in service for everyone."""

    async def refused(payload: dict[str, object]) -> dict[str, object]:
        from tutorbook_gateway.clients.upstream import raise_for_upstream_status

        raise_for_upstream_status("generator", 400, b'{"error": {"message": "prompt too long"}}')
        return {}

    healthy = generator.completion
    generator.completion = refused
    for _ in range(5):
        assert client.post("/v1/chat/completions", json=chat("charged twice"), headers=USER).status_code == 400
    generator.completion = healthy
    response = client.post("/v1/chat/completions", json=chat("charged twice"), headers=USER)
    assert response.headers["x-tutorbook-route"] == "adapter"


def test_an_adapter_the_generator_does_not_serve_is_routed_around_and_named_requests_get_a_503(
    client: TestClient[Litestar], generator: FakeGenerator
) -> None:
    """A replica that failed to load (or cannot find) the adapter answers 404 for its served name: the
    router's choice is undone and the question answered without it, the reason saying so; a request that
    named the adapter gets a 503 to retry (another replica may serve it); both are counted."""
    served = generator.completion

    async def not_on_this_replica(payload: dict[str, Any]) -> dict[str, Any]:
        if payload["model"] == "triage@3":
            raise ModelNotServedError("triage@3", "The model `triage@3` does not exist.")
        return await served(payload)

    generator.completion = not_on_this_replica  # type: ignore[method-assign]
    routed = client.post("/v1/chat/completions", json=chat("I was charged twice"), headers=USER)
    assert routed.status_code == 200 and routed.headers["x-tutorbook-route"] == "rag"
    tutorbook = routed.json()["tutorbook"]
    assert tutorbook["reason"].startswith("adapter triage@3 is not served by the generator; ")
    assert tutorbook["fallback"] == {"from_adapter": "triage", "because": "model_not_served"}
    assert "x-tutorbook-cache" not in routed.headers  # an answer without the adapter is not cached
    named = client.post("/v1/chat/completions", json=chat("I was charged twice", "triage"), headers=USER)
    assert named.status_code == 503 and named.headers["retry-after"] == "5"
    assert named.json()["error"]["code"] == "model_not_served"
    metrics = client.get("/metrics").text
    assert 'tutorbook_gateway_adapter_fallbacks_total{adapter="triage"} 1.0' in metrics
    assert 'tutorbook_gateway_upstream_errors_total{kind="model_not_served",service="generator"} 1.0' in metrics
    generator.completion = served  # type: ignore[method-assign]
    again = client.post("/v1/chat/completions", json=chat("I was charged twice"), headers=USER)
    assert again.headers["x-tutorbook-route"] == "adapter" and again.headers["x-tutorbook-cache"] == "miss"


def test_models_lists_active_adapters(client: TestClient[Litestar]) -> None:
    data = client.get("/v1/models", headers=USER).json()["data"]
    assert [model["id"] for model in data] == ["auto", "base", "style", "triage"]
    triage = data[3]
    assert triage["parent"] == "base"
    assert triage["tutorbook"] == {
        "kind": "adapter",
        "version": 3,
        "task_type": "classifier",
        "labels": ["billing", "returns", "shipping"],
        "wants_context": False,
        "loaded": True,
    }


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"tutorbook": {"session_id": "s1\n"}}, 400, "tutorbook.session_id"),  # a trailing newline is no id
        ({"model": "triage@\uff13"}, 404, "model"),  # a full-width digit is not a version
        ({"model": "triage@3\n"}, 404, "model"),
        ({"model": "triage@42"}, 404, "model"),  # looks like a version, but none is stored
    ],
)
def test_identifiers_must_match_whole(
    client: TestClient[Litestar], generator, body: dict[str, object], status: int, param: str
) -> None:
    response = client.post("/v1/chat/completions", json={**chat("hello"), **body}, headers=USER)
    assert response.status_code == status and response.json()["error"]["param"] == param
    assert generator.payloads == []


def test_a_pinned_version_that_fails_never_takes_the_active_one_out_of_service(
    client: TestClient[Litestar], generator: FakeGenerator
) -> None:
    """Errors count per served version: one key pinning an old version vLLM cannot serve (however often)
    does not switch the adapter off for everyone."""
    served = generator.completion

    async def old_version_gone(payload: dict[str, Any]) -> dict[str, Any]:
        if payload["model"] == "triage@1":
            raise ModelNotServedError("triage@1", "The model `triage@1` does not exist.")
        return await served(payload)

    generator.completion = old_version_gone  # type: ignore[method-assign]
    for _ in range(5):
        pinned = client.post("/v1/chat/completions", json=chat("I was charged twice", "triage@1"), headers=USER)
        assert pinned.status_code == 503
    routed = client.post("/v1/chat/completions", json=chat("I was charged twice again"), headers=USER)
    assert routed.headers["x-tutorbook-route"] == "adapter", routed.json()["tutorbook"]["reason"]
