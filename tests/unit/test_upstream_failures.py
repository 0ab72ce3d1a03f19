"""How a failed connection to the retriever or vLLM reaches the client: refused, reset or dropped means
the service is down or restarting (503 with Retry-After: try again soon); anything else is a 502."""

import aiohttp
import pytest

from tutorbook_gateway.clients.upstream import UpstreamCallError, UpstreamUnreachableError, connection_failure


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
