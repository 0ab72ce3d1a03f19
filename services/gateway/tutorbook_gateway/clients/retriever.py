"""The retriever, seen from the gateway."""

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from tutorbook_common.request_context import REQUEST_ID_HEADER, current_request_id
from tutorbook_gateway.clients.upstream import (
    UpstreamCallError,
    UpstreamCallTimeoutError,
    post_json,
    raise_for_upstream_status,
)

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
    lexical_score: float | None = None  # BM25 score (None: not a lexical hit)


@dataclass(frozen=True)
class SearchResult:
    passages: list[Passage]
    route_matches: dict[str, float]  # adapter (or the small-talk set) -> its best route example's similarity
    index_version: int


@dataclass(frozen=True)
class ForwardedResponse:
    status_code: int
    body: bytes


class RetrieverClient(Protocol):
    async def search(self, query: str, top_k: int) -> SearchResult:
        """Passages for ``query`` and its route-example matches, from one embedding of it."""
        ...

    async def put_route_examples(self, name: str, examples: list[str]) -> None: ...

    async def delete_route_examples(self, name: str) -> None: ...

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
        lexical_score=None if hit.get("lexical_score") is None else float(hit["lexical_score"]),
    )


def search_result(body: dict[str, Any]) -> SearchResult:
    """The retriever's search response (also used by the routing evaluation, which searches in-process)."""
    matches: dict[str, float] = {}
    for route in body.get("routes", []):
        name = str(route["adapter"])
        matches[name] = max(matches.get(name, -1.0), float(route["score"]))
    return SearchResult(
        passages=[passage_from_hit(hit) for hit in body.get("hits", [])],
        route_matches=matches,
        index_version=int(body.get("index_version", 0)),
    )


class HttpRetrieverClient:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def search(self, query: str, top_k: int) -> SearchResult:
        request = {"query": query, "top_k": top_k, "include_routes": True}
        return search_result(await post_json(self._client, SERVICE, "/v1/search", request))

    async def put_route_examples(self, name: str, examples: list[str]) -> None:
        await self._call("PUT", f"/v1/route-examples/{name}", {"examples": examples})

    async def delete_route_examples(self, name: str) -> None:
        await self._call("DELETE", f"/v1/route-examples/{name}", None)

    async def _call(self, method: str, path: str, body: dict[str, Any] | None) -> None:
        try:
            response = await self._client.request(method, path, json=body)
        except httpx.TimeoutException as exc:
            raise UpstreamCallTimeoutError(SERVICE) from exc
        except httpx.HTTPError as exc:
            raise UpstreamCallError(SERVICE, f"{type(exc).__name__}: {exc}") from exc
        raise_for_upstream_status(SERVICE, response.status_code, response.content)

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
