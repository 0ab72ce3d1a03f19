"""How a failed connection to the retriever or vLLM reaches the client: refused, reset or dropped means
the service is down or restarting (503 with Retry-After: try again soon); anything else is a 502; a
stream that dies after its first chunks is an error after them."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tutorbook_gateway.clients.generator import HttpChunkStream
from tutorbook_gateway.clients.upstream import (
    UpstreamCallError,
    UpstreamUnreachableError,
    connection_failure,
    not_served,
)


@pytest.mark.parametrize(
    ("error", "detail"),
    [
        (aiohttp.ServerDisconnectedError(), "connection lost: ServerDisconnectedError"),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), "connection lost: ClientOSError"),
    ],
)
def test_a_lost_connection_is_a_503_to_retry(error: aiohttp.ClientError, detail: str) -> None:
    failure = connection_failure("retriever", error)
    assert isinstance(failure, UpstreamUnreachableError) and failure.status_code == 503
    assert detail in str(failure) and failure.headers == {"Retry-After": "5"}


def test_anything_else_is_a_502() -> None:
    failure = connection_failure("generator", aiohttp.ClientPayloadError("bad chunk"))
    assert isinstance(failure, UpstreamCallError) and failure.status_code == 502


@pytest.mark.parametrize(
    ("status", "message", "served"),
    [
        (404, "The model `triage@3` does not exist.", False),
        (400, "LoRA adapter 'triage@3' was found but could not be loaded.", False),
        (400, "This model's maximum context length is 8192 tokens.", True),  # the caller's fault: a 400
        (404, "Not Found", True),
    ],
)
def test_a_model_the_generator_cannot_load_is_not_served(status: int, message: str, served: bool) -> None:
    """Both of vLLM's answers for an adapter it cannot serve (not found, found but failed to load) lead to
    a 503 and the router's fallback; other refusals stay the caller's 400."""
    assert not_served(status, message) is not served


class DyingResponse:
    """vLLM's first chunks of an answer, then the end of the body: cut (a payload error, as when vLLM is
    killed) or closed cleanly before ``[DONE]``. Stands for aiohttp's response (``content``, ``close``)."""

    def __init__(self, cut: bool) -> None:
        self.cut = cut
        self.closed = False
        self.content = self.lines()

    async def lines(self) -> AsyncIterator[bytes]:
        for text in ('{"choices": [{"delta": {"role": "assistant"}}]}', '{"choices": [{"delta": {"content": "Two"}}]}'):
            yield f"data: {text}\n".encode()
            yield b"\n"
        if self.cut:
            raise aiohttp.ClientPayloadError("Response payload is not completed")

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("cut", [True, False], ids=["cut short", "closed before done"])
def test_a_stream_the_generator_abandons_raises_after_the_chunks_it_sent(cut: bool) -> None:
    """Both ways a generator's stream can die become one error after what arrived (the gateway then ends
    the client's stream with an error event and no ``[DONE]``: tests/unit/test_gateway_streaming.py), and
    the connection is closed, not pooled."""
    response = DyingResponse(cut)
    received: list[dict[str, Any]] = []

    async def read() -> None:
        async for chunk in HttpChunkStream(response).chunks():  # type: ignore[arg-type]
            received.append(chunk)

    with pytest.raises(UpstreamCallError, match="stream broken"):
        asyncio.run(read())
    assert [chunk["choices"][0]["delta"] for chunk in received] == [{"role": "assistant"}, {"content": "Two"}]
    assert response.closed
