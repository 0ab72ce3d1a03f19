"""A generator that accepts connections and never answers: the first requests wait for the timeout and
get a 504 that says what timed out; then the circuit opens and requests get a 503 at once instead of
holding a connection and a worker for a whole timeout each; requests that need no generator (an
abstention) keep being answered. A hung retriever likewise gets a 504 naming it, while small talk the
router knows is still answered. Real HTTP: a server that reads the request and says nothing."""

import time
from typing import Any

from litestar.testing import TestClient

from tests.conftest import INTERNAL_TOKEN
from tests.unit.fakes import RETURNS, USER, WARRANTY, FakeGenerator, FakeRetriever
from tutorbook_config.service_settings import configured
from tutorbook_gateway.app import create_app
from tutorbook_gateway.settings import GatewaySettings


def ask(client: TestClient[Any], question: str) -> tuple[Any, float]:
    body = {"model": "base", "messages": [{"role": "user", "content": question}]}
    started = time.monotonic()
    response = client.post("/v1/chat/completions", json=body, headers=USER)
    return response, time.monotonic() - started


def test_a_hung_generator_opens_the_circuit(silent_address: tuple[str, int]) -> None:
    settings = configured(
        GatewaySettings,
        keys__api_keys="user-key-for-tests-0001",
        keys__admin_keys="admin-key-for-tests-0001",
        shared__internal_token=INTERNAL_TOKEN,
        shared__base_model_name="base",
        upstreams__generator_url="http://{}:{}".format(*silent_address),
        upstreams__generator_timeout_seconds=0.5,
        upstreams__circuit_breaker_failures=2,
        upstreams__circuit_breaker_open_seconds=30,
        cache__enabled=False,
    )
    with TestClient(create_app(settings, retriever=FakeRetriever([WARRANTY, RETURNS]))) as client:
        for question in ("first", "second"):
            timed_out, waited = ask(client, question)
            assert timed_out.status_code == 504 and waited >= 0.5
            assert "generator did not answer in time" in timed_out.json()["error"]["message"]
        refused, waited = ask(client, "third")
        assert refused.status_code == 503 and waited < 0.5, waited
        assert refused.json()["error"]["code"] == "upstream_unavailable"
        assert 25 <= int(refused.headers["retry-after"]) <= 30
        body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "tutorbook": {"route": "abstain"}}
        abstained = client.post("/v1/chat/completions", json=body, headers=USER)
        assert abstained.status_code == 200, abstained.text
        assert abstained.json()["tutorbook"]["route"] == "abstain"
        ready = client.get("/readyz")  # its probe times out too, and says which part failed
        assert ready.status_code == 503 and ready.json()["checks"]["generator"].startswith("failed: ")
        assert ready.json()["checks"]["retriever"] == "ok"


def test_a_hung_retriever_gets_a_504_that_names_it_and_small_talk_it_knows_still_answers(
    silent_address: tuple[str, int],
) -> None:
    settings = configured(
        GatewaySettings,
        keys__api_keys="user-key-for-tests-0001",
        keys__admin_keys="admin-key-for-tests-0001",
        shared__internal_token=INTERNAL_TOKEN,
        shared__base_model_name="base",
        upstreams__retriever_url="http://{}:{}".format(*silent_address),
        upstreams__retriever_timeout_seconds=0.5,
        cache__enabled=False,
    )
    with TestClient(create_app(settings, generator=FakeGenerator())) as client:
        body = {"model": "auto", "messages": [{"role": "user", "content": "How long is the warranty?"}]}
        started = time.monotonic()
        timed_out = client.post("/v1/chat/completions", json=body, headers=USER)
        assert timed_out.status_code == 504 and 0.5 <= time.monotonic() - started < 5
        assert timed_out.json()["error"]["message"] == "retriever did not answer in time"
        hello = {"model": "auto", "messages": [{"role": "user", "content": "Hello there!"}]}
        answered = client.post("/v1/chat/completions", json=hello, headers=USER)
        assert answered.status_code == 200 and answered.json()["tutorbook"]["fallback"]["because"] == "upstream_timeout"
