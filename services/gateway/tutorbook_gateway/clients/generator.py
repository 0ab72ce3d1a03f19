"""The generator (vLLM's OpenAI server), seen from the gateway."""

import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

import httpx

from tutorbook_common.errors import BadRequestError
from tutorbook_gateway.clients.upstream import (
    UpstreamCallError,
    UpstreamCallTimeoutError,
    post_json,
    upstream_message,
)

SERVICE = "generator"


class ChunkStream(Protocol):
    """Chat completion chunks as they arrive; closing it cancels the generation upstream."""

    def chunks(self) -> AsyncIterator[dict[str, Any]]: ...

    async def aclose(self) -> None: ...


class GeneratorClient(Protocol):
    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]: ...

    async def open_chat_stream(self, payload: dict[str, Any]) -> ChunkStream:
        """Start a streamed completion; errors before the first byte raise, as for ``chat_completion``."""
        ...

    async def list_models(self) -> list[dict[str, Any]]: ...

    async def ping(self) -> None: ...


class HttpChunkStream:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    async def chunks(self) -> AsyncIterator[dict[str, Any]]:
        try:
            async for line in self._response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    return
                chunk: dict[str, Any] = json.loads(data)
                yield chunk
        except httpx.HTTPError as exc:
            raise UpstreamCallError(SERVICE, f"stream broken: {type(exc).__name__}: {exc}") from exc
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        # Closing the connection is how vLLM learns that nobody is listening: it aborts the request.
        await self._response.aclose()


class HttpGeneratorClient:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await post_json(self._client, SERVICE, "/v1/chat/completions", payload)

    async def open_chat_stream(self, payload: dict[str, Any]) -> HttpChunkStream:
        body = {**payload, "stream": True, "stream_options": {"include_usage": True}}
        request = self._client.build_request("POST", "/v1/chat/completions", json=body)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise UpstreamCallTimeoutError(SERVICE) from exc
        except httpx.HTTPError as exc:
            raise UpstreamCallError(SERVICE, f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            await response.aread()
            await response.aclose()
            if response.status_code < 500:
                raise BadRequestError(f"{SERVICE} refused the request: {upstream_message(response)}")
            raise UpstreamCallError(SERVICE, f"HTTP {response.status_code}: {upstream_message(response)}")
        return HttpChunkStream(response)

    async def list_models(self) -> list[dict[str, Any]]:
        response = await self._client.get("/v1/models")
        response.raise_for_status()
        models: list[dict[str, Any]] = response.json().get("data", [])
        return models

    async def ping(self) -> None:
        response = await self._client.get("/health")
        response.raise_for_status()
