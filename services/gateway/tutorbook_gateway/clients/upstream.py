"""Calls to an upstream service over httpx, with its failures turned into gateway errors."""

from typing import Any

import httpx
import msgspec

from tutorbook_common.errors import BadRequestError, UpstreamError, UpstreamTimeoutError


class UpstreamCallError(UpstreamError):
    def __init__(self, service: str, message: str) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service


class UpstreamCallTimeoutError(UpstreamTimeoutError):
    def __init__(self, service: str) -> None:
        super().__init__(f"{service} did not answer in time")
        self.service = service


def upstream_message(response: httpx.Response) -> str:
    return message_from_body(response.content)


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


async def post_json(client: httpx.AsyncClient, service: str, path: str, payload: Any) -> dict[str, Any]:
    """POST and return the JSON body; a 4xx is the caller's fault (400), anything else is ours (502/504)."""
    try:
        response = await client.post(path, json=payload)
    except httpx.TimeoutException as exc:
        raise UpstreamCallTimeoutError(service) from exc
    except httpx.HTTPError as exc:
        raise UpstreamCallError(service, f"{type(exc).__name__}: {exc}") from exc
    raise_for_upstream_status(service, response.status_code, response.content)
    result: dict[str, Any] = msgspec.json.decode(response.content)
    return result
