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
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", error))
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:500]


async def post_json(client: httpx.AsyncClient, service: str, path: str, payload: Any) -> dict[str, Any]:
    """POST and return the JSON body; a 4xx is the caller's fault (400), anything else is ours (502/504)."""
    try:
        response = await client.post(path, json=payload)
    except httpx.TimeoutException as exc:
        raise UpstreamCallTimeoutError(service) from exc
    except httpx.HTTPError as exc:
        raise UpstreamCallError(service, f"{type(exc).__name__}: {exc}") from exc
    if 400 <= response.status_code < 500:
        raise BadRequestError(f"{service} refused the request: {upstream_message(response)}")
    if response.status_code >= 500:
        raise UpstreamCallError(service, f"HTTP {response.status_code}: {upstream_message(response)}")
    result: dict[str, Any] = msgspec.json.decode(response.content)
    return result
