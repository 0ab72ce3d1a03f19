"""The retriever, seen from the gateway."""

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from tutorbook_gateway.clients.upstream import UpstreamCallError, UpstreamCallTimeoutError, post_json

SERVICE = "retriever"


@dataclass(frozen=True)
class Passage:
    doc_id: str
    chunk_id: str
    title: str
    section: str
    text: str
    score: float


@dataclass(frozen=True)
class ForwardedResponse:
    status_code: int
    body: bytes


class RetrieverClient(Protocol):
    async def search(self, query: str, top_k: int) -> list[Passage]: ...

    async def forward_ingest(self, body: bytes) -> ForwardedResponse: ...

    async def ping(self) -> None: ...


def passage_from_hit(hit: dict[str, Any]) -> Passage:
    return Passage(
        doc_id=str(hit["doc_id"]),
        chunk_id=str(hit.get("chunk_id", "")),
        title=str(hit.get("title", "")),
        section=str(hit.get("section", "")),
        text=str(hit.get("text", "")),
        score=float(hit["score"]),
    )


class HttpRetrieverClient:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def search(self, query: str, top_k: int) -> list[Passage]:
        body = await post_json(self._client, SERVICE, "/v1/search", {"query": query, "top_k": top_k})
        return [passage_from_hit(hit) for hit in body.get("hits", [])]

    async def forward_ingest(self, body: bytes) -> ForwardedResponse:
        """Pass an admin's ingest request through unchanged; the retriever validates it."""
        try:
            response = await self._client.post(
                "/v1/documents", content=body, headers={"content-type": "application/json"}
            )
        except httpx.TimeoutException as exc:
            raise UpstreamCallTimeoutError(SERVICE) from exc
        except httpx.HTTPError as exc:
            raise UpstreamCallError(SERVICE, f"{type(exc).__name__}: {exc}") from exc
        return ForwardedResponse(status_code=response.status_code, body=response.content)

    async def ping(self) -> None:
        response = await self._client.get("/readyz")
        response.raise_for_status()
