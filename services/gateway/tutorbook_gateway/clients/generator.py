"""The generator (vLLM's OpenAI server), seen from the gateway.

aiohttp rather than httpx on this hot path: measured here, an httpx request to vLLM costs about 1.5 ms
more at the median than the same request with aiohttp, and every chat request makes one.
"""

from collections.abc import AsyncIterator
from typing import Any, Protocol

import aiohttp
import msgspec

from tutorbook_gateway.clients.breaker import CircuitBreaker
from tutorbook_gateway.clients.upstream import (
    ModelNotServedError,
    UpstreamCallError,
    UpstreamCallTimeoutError,
    connection_failure,
    message_from_body,
    not_served,
    raise_for_upstream_status,
    request_headers,
    upstream_session,
)

SERVICE = "generator"
CHAT_PATH = "/v1/chat/completions"
COMPLETION_PATH = "/v1/completions"
TOKENIZE_PATH = "/tokenize"


class ChunkStream(Protocol):
    """Chat completion chunks as they arrive; closing it cancels the generation upstream."""

    def chunks(self) -> AsyncIterator[dict[str, Any]]: ...

    async def aclose(self) -> None: ...


class GeneratorClient(Protocol):
    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]: ...

    async def open_chat_stream(self, payload: dict[str, Any]) -> ChunkStream:
        """Start a streamed completion; errors before the first byte raise, as for ``chat_completion``."""
        ...

    async def completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A text completion (``/v1/completions``): prompts as token ids, scored by ``prompt_logprobs``."""
        ...

    async def tokenize(self, payload: dict[str, Any]) -> list[int]:
        """The token ids of ``messages`` rendered by the model's chat template (vLLM's ``/tokenize``)."""
        ...

    async def list_models(self) -> list[dict[str, Any]]: ...

    async def ping(self) -> None: ...


class HttpChunkStream:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def chunks(self) -> AsyncIterator[dict[str, Any]]:
        try:
            async for raw in self._response.content:
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[len(b"data:") :].strip()
                if data == b"[DONE]":
                    return
                chunk: dict[str, Any] = msgspec.json.decode(data)
                yield chunk
            # The connection ended cleanly but before vLLM's [DONE]: the generator died or was cut off.
            raise UpstreamCallError(SERVICE, "stream broken: it ended before it was complete")
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamCallError(SERVICE, f"stream broken: {type(exc).__name__}: {exc}") from exc
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        # Closing the connection (not releasing it to the pool) is how vLLM learns that nobody is
        # listening any more: it aborts the request.
        self._response.close()


class HttpGeneratorClient:
    def __init__(self, session: aiohttp.ClientSession, breaker: CircuitBreaker) -> None:
        self._session = session
        self._breaker = breaker

    async def _post(self, payload: dict[str, Any], path: str = CHAT_PATH) -> aiohttp.ClientResponse:
        with self._breaker.guard():
            response = await self._session.post(path, data=msgspec.json.encode(payload), headers=request_headers())
        if response.status >= 400:
            content = await response.read()
            response.release()
            message = message_from_body(content)
            if not_served(response.status, message):
                raise ModelNotServedError(str(payload.get("model")), message)
            raise_for_upstream_status(SERVICE, response.status, content)
        return response

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self._post_for_json(payload, CHAT_PATH)

    async def completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self._post_for_json(payload, COMPLETION_PATH)

    async def tokenize(self, payload: dict[str, Any]) -> list[int]:
        tokens: list[int] = (await self._post_for_json(payload, TOKENIZE_PATH))["tokens"]
        return tokens

    async def _post_for_json(self, payload: dict[str, Any], path: str) -> dict[str, Any]:
        response = await self._post(payload, path)
        try:
            content = await response.read()
        except TimeoutError as exc:
            raise UpstreamCallTimeoutError(SERVICE) from exc
        except aiohttp.ClientError as exc:
            raise connection_failure(SERVICE, exc) from exc
        finally:
            response.release()
        result: dict[str, Any] = msgspec.json.decode(content)
        return result

    async def open_chat_stream(self, payload: dict[str, Any]) -> HttpChunkStream:
        body = {**payload, "stream": True, "stream_options": {"include_usage": True}}
        return HttpChunkStream(await self._post(body))

    async def list_models(self) -> list[dict[str, Any]]:
        async with self._session.get("/v1/models") as response:
            response.raise_for_status()
            body = await response.json()
        models: list[dict[str, Any]] = body.get("data", [])
        return models

    async def ping(self) -> None:
        async with self._session.get("/health") as response:
            response.raise_for_status()


def generator_session(base_url: str, read_timeout_seconds: float, internal_token: str) -> aiohttp.ClientSession:
    """No total timeout (a stream may run for minutes); a read that stalls this long fails."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=read_timeout_seconds)
    return upstream_session(base_url, timeout, internal_token)
