"""While the retriever is down, small talk the router recognised before (or one of its own conversation
examples) is still answered by plain prompting, the reason and a metric saying so; a question that needs
passages gets the retriever's 503 with Retry-After; a request that needs no retrieval is not touched."""

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.unit.fakes import RETURNS, USER, FakeGenerator, FakeRetriever, chat
from tutorbook_gateway.chat.planning import SmallTalkMemory, normalised
from tutorbook_gateway.clients.upstream import UpstreamUnreachableError
from tutorbook_gateway.routing import SMALL_TALK

DOWN = UpstreamUnreachableError("retriever", "connection refused")


@pytest.fixture
def upstream() -> tuple[FakeRetriever, FakeGenerator]:
    return FakeRetriever([RETURNS], route_matches={SMALL_TALK: 0.9}), FakeGenerator()  # it all reads as small talk


@pytest.fixture
def retriever(upstream: tuple[FakeRetriever, FakeGenerator]) -> FakeRetriever:
    return upstream[0]


@pytest.fixture
def generator(upstream: tuple[FakeRetriever, FakeGenerator]) -> FakeGenerator:
    return upstream[1]


def test_small_talk_seen_before_is_answered_while_the_retriever_is_down(
    client: TestClient[Litestar], retriever: FakeRetriever, generator: FakeGenerator
) -> None:
    first = client.post("/v1/chat/completions", json=chat("How is your day going, friend?"), headers=USER)
    assert first.json()["tutorbook"]["route"] == "prompt"
    retriever.failure = DOWN
    again = client.post("/v1/chat/completions", json=chat("how is your day going friend"), headers=USER)
    assert again.status_code == 200, again.text
    tutorbook = again.json()["tutorbook"]
    assert tutorbook["route"] == "prompt" and tutorbook["citations"] == []
    assert tutorbook["reason"].startswith("the retriever is unavailable (upstream_unavailable); small talk")
    assert "matched them at 0.90 before" in tutorbook["reason"]
    assert tutorbook["fallback"] == {"without": "retriever", "because": "upstream_unavailable"}
    assert generator.payloads[-1]["messages"] == [{"role": "user", "content": "how is your day going friend"}]
    assert "x-tutorbook-cache" not in again.headers  # not cached as the usual answer
    metrics = client.get("/metrics").text
    assert 'tutorbook_gateway_router_decisions_total{route="prompt",rule="small_talk_remembered"} 1.0' in metrics
    assert 'tutorbook_gateway_upstream_errors_total{kind="upstream_unavailable",service="retriever"} 1.0' in metrics


def test_the_routers_own_examples_are_known_without_ever_asking(
    client: TestClient[Litestar], retriever: FakeRetriever
) -> None:
    retriever.failure = DOWN
    hello = client.post("/v1/chat/completions", json=chat("Hi!"), headers=USER)
    assert hello.status_code == 200, hello.text
    assert "is one of its conversation examples" in hello.json()["tutorbook"]["reason"]


@pytest.mark.parametrize(
    "body",
    [
        chat("How long is the warranty?"),  # never seen: it may need passages
        chat("hi", tutorbook={"route": "rag"}),  # asked for passages
    ],
)
def test_anything_else_that_needs_the_retriever_gets_its_503(
    client: TestClient[Litestar], retriever: FakeRetriever, body: dict[str, object]
) -> None:
    retriever.failure = DOWN
    refused = client.post("/v1/chat/completions", json=body, headers=USER)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
    assert refused.json()["error"]["code"] == "upstream_unavailable"


def test_requests_that_need_no_retrieval_do_not_notice(client: TestClient[Litestar], retriever: FakeRetriever) -> None:
    retriever.failure = DOWN
    named = client.post("/v1/chat/completions", json=chat("How long is the warranty?", "base"), headers=USER)
    assert named.status_code == 200 and "fallback" not in named.json()["tutorbook"]


def test_the_memory_is_bounded_and_keeps_its_examples() -> None:
    memory = SmallTalkMemory(2, examples=["hi"])
    for question in ["one", "two", "three"]:
        memory.remember(question, 0.5)
    assert len(memory) == 2 and memory.recall("one") is None and memory.recall("Three!") == 0.5
    assert memory.recall("HI") == 1.0
    assert SmallTalkMemory(0).recall("one") is None
    assert normalised("  Hello,   there!? ") == "hello there"
