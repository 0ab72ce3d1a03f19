"""How a failed connection to the retriever or vLLM reaches the client: refused, reset or dropped means
the service is down or restarting (503 with Retry-After: try again soon); anything else is a 502."""

import aiohttp
import pytest

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
