"""Calls to the gateway's upstream services: one way to open a session and to label a request, and their
failures turned into gateway errors."""

import aiohttp
import msgspec

from tutorbook_service.errors import BadRequestError, ServiceUnavailableError, UpstreamError, UpstreamTimeoutError
from tutorbook_service.internal_auth import bearer_header
from tutorbook_service.request_context import REQUEST_ID_HEADER, current_request_id, trace_headers

RETRY_UNREACHABLE_SECONDS = 5
# Idle pooled connections are dropped before uvicorn's 5 s keep-alive closes them on the other side, so a
# request never goes out on a connection the server is closing (that would read as "connection lost").
KEEPALIVE_SECONDS = 4.0


def upstream_connector() -> aiohttp.TCPConnector:
    return aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS)


def upstream_session(
    base_url: str | None, timeout: aiohttp.ClientTimeout, internal_token: str
) -> aiohttp.ClientSession:
    """A pooled session to an internal service, sending the internal token on every request."""
    return aiohttp.ClientSession(
        base_url=base_url, timeout=timeout, headers=bearer_header(internal_token), connector=upstream_connector()
    )


def request_headers() -> dict[str, str]:
    """JSON, the current request id (so the upstream's logs can be matched with the gateway's) and, when
    the request is traced, its trace context."""
    request_id = current_request_id()
    headers = {"content-type": "application/json", **trace_headers()}
    return {**headers, REQUEST_ID_HEADER: request_id} if request_id else headers


class UpstreamCallError(UpstreamError):
    def __init__(self, service: str, message: str) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service


class UpstreamUnreachableError(ServiceUnavailableError):
    """503 with Retry-After: the service does not accept connections (down, restarting). Requests that do
    not need it keep being answered; the gateway tries it again on the next request that does."""

    code = "upstream_unavailable"

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(f"{service} is unavailable ({detail}); try again shortly")
        self.service = service
        self.headers = {"Retry-After": str(RETRY_UNREACHABLE_SECONDS)}


def connection_failure(service: str, exc: aiohttp.ClientError) -> UpstreamError | ServiceUnavailableError:
    """A refused, reset or dropped connection means the service is down or restarting: 503, retry soon.
    Anything else that went wrong in the call is a 502."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamUnreachableError(service, "connection refused")
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
        return UpstreamUnreachableError(service, f"connection lost: {type(exc).__name__}")
    return UpstreamCallError(service, f"{type(exc).__name__}: {exc}")


class ModelNotServedError(ServiceUnavailableError):
    """503 with Retry-After: the generator replica that took the request does not serve that model (an
    adapter it failed to load, or could not find). Not the caller's fault; another try may reach a replica
    that does, and a request the router sent there is answered without the adapter instead."""

    code = "model_not_served"

    def __init__(self, model: str, detail: str) -> None:
        super().__init__(f"the generator does not serve {model} right now ({detail[:200]}); try again shortly")
        self.service = "generator"
        self.model = model
        self.headers = {"Retry-After": str(RETRY_UNREACHABLE_SECONDS)}


def not_served(status: int, message: str) -> bool:
    """Whether vLLM refused a request because it does not serve its model: 404 "The model `x` does not
    exist" (not loaded, and no resolver found it) or 400 "LoRA adapter 'x' was found but could not be
    loaded" (its files are corrupt or do not fit the base model on this replica)."""
    return (status == 404 and "does not exist" in message) or (status == 400 and "could not be loaded" in message)


class UpstreamCallTimeoutError(UpstreamTimeoutError):
    def __init__(self, service: str) -> None:
        super().__init__(f"{service} did not answer in time")
        self.service = service


def message_from_body(content: bytes) -> str:
    """The error message inside an upstream error body (OpenAI shape, FastAPI ``detail``, or raw text)."""
    try:
        body = msgspec.json.decode(content)
    except msgspec.DecodeError:
        return content[:500].decode(errors="replace")
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", error))
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:500]


def raise_for_upstream_status(service: str, status: int, content: bytes) -> None:
    """A 4xx is the caller's fault (400), anything else is ours (502)."""
    if 400 <= status < 500:
        raise BadRequestError(f"{service} refused the request: {message_from_body(content)}")
    if status >= 500:
        raise UpstreamCallError(service, f"HTTP {status}: {message_from_body(content)}")
