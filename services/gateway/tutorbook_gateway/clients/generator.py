"""The generator (vLLM's OpenAI server), seen from the gateway."""

from typing import Any, Protocol

import httpx

from tutorbook_gateway.clients.upstream import post_json

SERVICE = "generator"


class GeneratorClient(Protocol):
    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]: ...

    async def list_models(self) -> list[dict[str, Any]]: ...

    async def ping(self) -> None: ...


class HttpGeneratorClient:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await post_json(self._client, SERVICE, "/v1/chat/completions", payload)

    async def list_models(self) -> list[dict[str, Any]]:
        response = await self._client.get("/v1/models")
        response.raise_for_status()
        models: list[dict[str, Any]] = response.json().get("data", [])
        return models

    async def ping(self) -> None:
        response = await self._client.get("/health")
        response.raise_for_status()
