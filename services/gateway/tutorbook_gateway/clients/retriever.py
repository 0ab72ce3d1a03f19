"""The retriever, seen from the gateway."""

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from tutorbook_common.request_context import REQUEST_ID_HEADER, current_request_id
from tutorbook_gateway.clients.upstream import UpstreamCallError, UpstreamCallTimeoutError, post_json

SERVICE = "retriever"


@dataclass(frozen=True)
class Passage:
    doc_id: str
    chunk_id: str
    title: str
    section: str
    text: str
    score: float  # the retriever's ranking score (fused, for hybrid search)
    dense_score: float  # cosine similarity of query and chunk: an absolute measure of relevance


@dataclass(frozen=True)
class ForwardedResponse:
    status_code: int
    body: bytes


class RetrieverClient(Protocol):
    async def search(self, query: str, top_k: int) -> list[Passage]: ...

    async def forward(self, method: str, path: str, body: bytes, query: str) -> ForwardedResponse:
        """Pass an admin's document request through unchanged; the retriever validates it."""
        ...

    async def ping(self) -> None: ...


async def pass_request_id(request: httpx.Request) -> None:
    """httpx hook: the retriever logs the same request id as the gateway."""
    request_id = current_request_id()
    if request_id:
        request.headers[REQUEST_ID_HEADER] = request_id


def passage_from_hit(hit: dict[str, Any]) -> Passage:
    return Passage(
        doc_id=str(hit["doc_id"]),
        chunk_id=str(hit.get("chunk_id", "")),
        title=str(hit.get("title", "")),
        section=str(hit.get("section", "")),
        text=str(hit.get("text", "")),
        score=float(hit["score"]),
        dense_score=float(hit["dense_score"] if hit.get("dense_score") is not None else hit["score"]),
    )


class HttpRetrieverClient:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def search(self, query: str, top_k: int) -> list[Passage]:
        body = await post_json(self._client, SERVICE, "/v1/search", {"query": query, "top_k": top_k})
        return [passage_from_hit(hit) for hit in body.get("hits", [])]

    async def forward(self, method: str, path: str, body: bytes, query: str) -> ForwardedResponse:
        try:
            response = await self._client.request(
                method,
                f"{path}?{query}" if query else path,
                content=body or None,
                headers={"content-type": "application/json"} if body else None,
            )
        except httpx.TimeoutException as exc:
            raise UpstreamCallTimeoutError(SERVICE) from exc
        except httpx.HTTPError as exc:
            raise UpstreamCallError(SERVICE, f"{type(exc).__name__}: {exc}") from exc
        return ForwardedResponse(status_code=response.status_code, body=response.content)

    async def ping(self) -> None:
        response = await self._client.get("/readyz")
        response.raise_for_status()
