"""The gateway's HTTP contract, with in-process fakes for the retriever and generator."""

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.unit.fakes import ADMIN, RETURNS, USER, chat


def test_rag_answer_carries_route_reason_and_citations(client: TestClient[Litestar], upstream) -> None:
    response = client.post("/v1/chat/completions", json=chat("How long is the warranty?"), headers=USER)
    assert response.status_code == 200
    assert response.headers["x-tutorbook-route"] == "rag"
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "Two years [1]."
    block = body["tutorbook"]
    assert block["route"] == "rag" and "0.71" in block["reason"]  # relevance is the dense score
    assert [c["doc_id"] for c in block["citations"]] == ["warranty", "returns"]
    assert block["citations"][0]["section"] == "Coverage" and block["citations"][0]["snippet"]
    sent = upstream[1].payloads[0]
    assert sent["model"] == "base" and sent["temperature"] == 0.0
    assert "<sources>" in sent["messages"][-1]["content"]


def test_irrelevant_question_abstains_without_generating(client: TestClient[Litestar], upstream) -> None:
    upstream[0].passages = [RETURNS]
    response = client.post("/v1/chat/completions", json=chat("Capital of Mongolia?"), headers=USER)
    assert response.status_code == 200 and response.headers["x-tutorbook-route"] == "abstain"
    body = response.json()
    assert body["choices"][0]["message"]["content"].startswith("Not sure about the answer: need more context.")
    assert body["tutorbook"]["suggestions"] == ["Returns"]
    assert upstream[1].payloads == []


def test_naming_the_base_model_prompts_without_retrieval(client: TestClient[Litestar], upstream) -> None:
    sampling = {"max_tokens": 12, "temperature": 0.7, "top_p": 0.9, "seed": 3, "stop": ["\n"], "user": "u-42"}
    response = client.post("/v1/chat/completions", json={**chat("Hi!", model="base"), **sampling}, headers=USER)
    assert response.headers["x-tutorbook-route"] == "prompt"
    assert upstream[0].queries == []
    sent = upstream[1].payloads[0]
    assert {name: sent.get(name) for name in sampling} == sampling  # every sampling parameter reaches vLLM


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [({}, 401, "missing_api_key"), ({"Authorization": "Bearer wrong"}, 401, "invalid_api_key")],
)
def test_chat_needs_a_valid_key(client: TestClient[Litestar], headers: dict[str, str], status: int, code: str) -> None:
    response = client.post("/v1/chat/completions", json=chat("hi"), headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["type"] == "authentication_error"


def test_document_endpoints_need_an_admin_key(client: TestClient[Litestar], upstream) -> None:
    documents = {"documents": [{"id": "a", "text": "x"}]}
    assert client.post("/v1/documents", json=documents, headers=USER).status_code == 403
    assert client.post("/v1/documents", json=documents).status_code == 401
    assert client.get("/v1/documents", headers=USER).status_code == 403
    assert client.delete("/v1/documents/a", headers=USER).status_code == 403
    assert upstream[0].forwarded == []
    response = client.post("/v1/documents", json=documents, headers=ADMIN)
    assert response.status_code == 200 and response.json()["ids"] == ["a"]
    client.get("/v1/documents?limit=5", headers=ADMIN)
    client.delete("/v1/documents/manuals/tv-1", headers=ADMIN)
    assert [(m, p, q) for m, p, _, q in upstream[0].forwarded] == [
        ("POST", "/v1/documents", ""),
        ("GET", "/v1/documents", "limit=5"),
        ("DELETE", "/v1/documents/manuals/tv-1", ""),
    ]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (chat("hi", model="gpt-9"), "model"),
        ({"model": "auto", "messages": []}, "messages"),
        ({"model": "auto", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        (chat("hi", temperature=3), "temperature"),
        ({"model": "auto"}, None),
    ],
)
def test_bad_requests_get_openai_shaped_4xx(
    client: TestClient[Litestar], body: dict[str, object], param: str | None
) -> None:
    response = client.post("/v1/chat/completions", json=body, headers=USER)
    assert 400 <= response.status_code < 500
    error = response.json()["error"]
    assert error["message"] and error["param"] == param


def test_models_lists_auto_then_the_generators_models(client: TestClient[Litestar]) -> None:
    response = client.get("/v1/models", headers=USER)
    assert [model["id"] for model in response.json()["data"]] == ["auto", "base"]


def test_probes_and_metrics(client: TestClient[Litestar]) -> None:
    client.post("/v1/chat/completions", json=chat("warranty?"), headers=USER)
    client.post("/v1/chat/completions", json=chat("hi"))
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["checks"] == {"retriever": "ok", "generator": "ok", "route_examples": "ok"}
    metrics = client.get("/metrics").text
    assert 'tutorbook_gateway_chat_requests_total{model="base",route="rag",status="200"} 1.0' in metrics
    assert 'tutorbook_gateway_auth_failures_total{reason="missing_api_key"} 1.0' in metrics
    assert 'tutorbook_gateway_phase_duration_seconds_count{phase="retrieve"} 1.0' in metrics
    assert 'tutorbook_gateway_phase_duration_seconds_count{phase="generate"} 1.0' in metrics  # from passages too
    assert 'tutorbook_gateway_router_decisions_total{route="rag",rule="relevant_passage"} 1.0' in metrics


@pytest.mark.parametrize("doc_id", ["a%2F..%2F..%2Froute-examples%2Ftutorbook:small-talk", "manuals%2F.%2Fx", "%2E%2E"])
def test_a_document_id_cannot_walk_to_another_retriever_path(
    client: TestClient[Litestar], upstream, doc_id: str
) -> None:
    for method in ("GET", "DELETE"):
        response = client.request(method, f"/v1/documents/{doc_id}", headers=ADMIN)
        assert response.status_code == 400 and response.json()["error"]["param"] == "id", (method, doc_id)
    assert upstream[0].forwarded == []


@pytest.mark.parametrize(
    ("body", "status", "param", "says"),
    [
        ({"max_tokens": 5000}, 400, "max_tokens", "at most 1024"),
        ({"messages": [{"role": "user", "content": "x" * 32_001}]}, 413, "messages[0].content", "at most 32000"),
        (
            {"messages": [{"role": "user", "content": "x" * 30_000}] * 3 + [{"role": "user", "content": "y" * 20_000}]},
            413,
            "messages",
            "at most 100000",
        ),
    ],
)
def test_what_one_request_may_ask_is_bounded(
    client: TestClient[Litestar], upstream, body: dict[str, object], status: int, param: str, says: str
) -> None:
    response = client.post(
        "/v1/chat/completions", json={**chat("hi"), "tutorbook": {"session_id": "s1"}, **body}, headers=USER
    )
    assert response.status_code == status
    assert response.json()["error"]["param"] == param and says in response.json()["error"]["message"]
    assert upstream[1].payloads == [] and upstream[0].queries == []


def test_a_chat_body_over_its_limit_is_refused_before_it_is_read_whole(client: TestClient[Litestar], upstream) -> None:
    body = b'{"model": "auto", "messages": [{"role": "user", "content": "' + b"x" * 1_100_000 + b'"}]}'
    response = client.post("/v1/chat/completions", content=body, headers={**USER, "content-type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["type"] == "invalid_request_error"
    assert "larger than 1000000 bytes" in response.json()["error"]["message"]
    assert upstream[1].payloads == []


def test_what_anyone_may_see_without_a_key(client: TestClient[Litestar]) -> None:
    """Probes and metrics are open (load balancers, Prometheus); the API's schema is for key holders."""
    assert client.get("/schema/openapi.json").status_code == 401
    assert client.get("/schema/openapi.json", headers=USER).status_code == 200
    assert client.get("/healthz").status_code == 200 and client.get("/metrics").status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"model": "auto", "messages": [{"role": "user", "content": "\xff\xfe"}]}', "the body is not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"model": "auto", "messages": [{"role": "user", "content": ' + b"[" * 5000 + b"]" * 5000 + b"}]}", "deeply"),
    ],
)
def test_a_body_that_cannot_be_json_gets_a_400_not_a_500(
    client: TestClient[Litestar], upstream, body: bytes, message: str
) -> None:
    for path in ("/v1/chat/completions", "/v1/feedback"):
        response = client.post(path, content=body, headers={**USER, "content-type": "application/json"})
        assert response.status_code == 400, (path, response.text)
        assert message in response.json()["error"]["message"]
    assert upstream[1].payloads == []
