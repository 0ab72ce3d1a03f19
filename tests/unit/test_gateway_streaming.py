"""Streaming chat completions over server-sent events, with in-process fakes for the upstream services."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from tests.unit.fakes import RETURNS, USER, FakeGenerator, FakeRetriever, chat
from tutorbook_gateway.chat.answering import AnswerStart, ChatEvent
from tutorbook_gateway.chat.delivery import as_server_sent_events
from tutorbook_gateway.clients.upstream import UpstreamUnreachableError


def events(body: str) -> list[Any]:
    """The SSE data payloads, "[DONE]" kept as a string."""
    data = [line[len("data: ") :] for line in body.split("\n\n") if line.startswith("data: ")]
    return [item if item == "[DONE]" else json.loads(item) for item in data]


def test_a_rag_answer_streams_with_the_decision_first(client: TestClient[Litestar], upstream) -> None:
    response = client.post("/v1/chat/completions", json=chat("warranty?", stream=True), headers=USER)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-tutorbook-route"] == "rag"
    items = events(response.text)
    assert items[-1] == "[DONE]"
    chunks = items[:-1]
    assert chunks[0]["tutorbook"]["route"] == "rag" and chunks[0]["tutorbook"]["citations"][0]["doc_id"] == "warranty"
    assert all("tutorbook" not in item for item in chunks[1:-1])
    last = chunks[-1]  # the checked claims come with the finish reason
    assert last["choices"][0]["finish_reason"] == "stop"
    assert last["tutorbook"]["claims"][0]["supported"] is True and last["tutorbook"]["claims"][0]["citation"] == 0
    assert last["tutorbook"]["citations"][0]["quotes"] == ["Two years from delivery."]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Two years [1]."
    assert all(item["choices"] and "usage" not in item for item in chunks)  # usage only when asked for
    generator: FakeGenerator = upstream[1]
    assert generator.streams[0].closed


def test_usage_arrives_last_when_asked_for(client: TestClient[Litestar]) -> None:
    body = chat("warranty?", stream=True, stream_options={"include_usage": True})
    chunks = events(client.post("/v1/chat/completions", json=body, headers=USER).text)[:-1]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4
    assert all(item["usage"] is None for item in chunks[:-1])


def test_an_abstention_streams_without_generating(client: TestClient[Litestar], upstream) -> None:
    retriever: FakeRetriever = upstream[0]
    retriever.passages = [RETURNS]
    response = client.post("/v1/chat/completions", json=chat("Capital of Mongolia?", stream=True), headers=USER)
    assert response.headers["x-tutorbook-route"] == "abstain"
    chunks = events(response.text)[:-1]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text.startswith("Not sure about the answer: need more context.")
    assert chunks[0]["tutorbook"]["route"] == "abstain" and chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert upstream[1].payloads == []


def test_stream_options_need_stream(client: TestClient[Litestar]) -> None:
    body = chat("hi", stream_options={"include_usage": True})
    response = client.post("/v1/chat/completions", json=body, headers=USER)
    assert response.status_code == 400 and response.json()["error"]["param"] == "stream_options"


def test_streams_are_measured(client: TestClient[Litestar]) -> None:
    client.post("/v1/chat/completions", json=chat("warranty?", stream=True), headers=USER)
    metrics = client.get("/metrics").text
    assert 'tutorbook_gateway_time_to_first_token_seconds_count{route="rag"} 1.0' in metrics
    assert 'tutorbook_gateway_chat_requests_total{model="base",route="rag",status="200"} 1.0' in metrics


def test_a_stream_that_fails_after_its_first_words_ends_with_the_error_and_no_done() -> None:
    async def words_then_failure() -> AsyncIterator[ChatEvent]:
        yield "Two"
        raise UpstreamUnreachableError("generator", "stream broken")

    async def read() -> list[bytes]:
        start = AnswerStart("chatcmpl-1", "auto", {"route": "rag"}, "miss", None)
        return [piece async for piece in as_server_sent_events(start, words_then_failure(), include_usage=False)]

    items = events(b"".join(asyncio.run(read())).decode())
    assert items[1]["choices"][0]["delta"]["content"] == "Two"
    assert "stream broken" in items[-1]["error"]["message"] and "[DONE]" not in items  # never read as complete
