"""The retriever, seen from the gateway (aiohttp, like the generator client: it is on the hot path)."""

from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import msgspec

from tutorbook_gateway.access.model import visible_to
from tutorbook_gateway.clients.breaker import CircuitBreaker
from tutorbook_gateway.clients.upstream import (
    UpstreamCallError,
    raise_for_upstream_status,
    request_headers,
    upstream_session,
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
class SimilarQuestion:
    """The most similar question answered at the current index version (the semantic cache)."""

    key: str
    score: float


@dataclass(frozen=True)
class SearchResult:
    passages: list[Passage]
    route_matches: dict[str, float]  # adapter (or the small-talk set) -> its best route example's similarity
    index_version: int
    similar: SimilarQuestion | None = None


@dataclass(frozen=True)
class ForwardedResponse:
    status_code: int
    body: bytes


@dataclass(frozen=True)
class Embedding:
    embedder: str  # the retriever's embedder, as it names itself
    vector: list[float]


class RetrieverClient(Protocol):
    async def search(self, query: str, top_k: int, team: str, similar_questions: bool = False) -> SearchResult:
        """Passages for ``query`` from the documents ``team`` may see, and its route-example matches (and,
        when asked, the most similar question ``team`` had answered before), from one embedding of it."""
        ...

    async def remember_question(self, key: str, question: str, index_version: int, team: str) -> None:
        """Note an answered question for the semantic cache (of ``team`` only)."""
        ...

    async def index_version(self) -> int:
        """The current index version (cheap: the response cache checks it on every hit)."""
        ...

    async def embed(self, text: str) -> Embedding:
        """The text's vector, named by the embedder that made it (for embedding classifiers)."""
        ...

    async def similarities(self, texts: list[str], candidates: list[str]) -> list[list[float]]:
        """The cosine of every text with every candidate, embedded in one batch (for the claim check)."""
        ...

    async def put_route_examples(self, name: str, examples: list[str]) -> None: ...

    async def delete_route_examples(self, name: str) -> None: ...

    async def forward(self, method: str, path: str, body: bytes, query: str) -> ForwardedResponse:
        """Pass an admin's document request through unchanged; the retriever validates it."""
        ...

    async def ping(self) -> None: ...


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
    similar = body.get("similar")
    return SearchResult(
        passages=[passage_from_hit(hit) for hit in body.get("hits", [])],
        route_matches=matches,
        index_version=int(body.get("index_version", 0)),
        similar=None if not similar else SimilarQuestion(str(similar["key"]), float(similar["score"])),
    )


WRITES = frozenset({"POST", "PUT", "DELETE"})


class HttpRetrieverClient:
    """Searches wait for the session's timeout; document writes (a batch is embedded and committed before
    the retriever answers) wait ``write_timeout_seconds``, so a batch the retriever commits is never
    reported as failed for being slow."""

    def __init__(self, session: aiohttp.ClientSession, write_timeout_seconds: float, breaker: CircuitBreaker) -> None:
        self._session = session
        self._write_timeout = aiohttp.ClientTimeout(total=write_timeout_seconds)
        self._breaker = breaker

    async def _request(
        self, method: str, path: str, body: bytes | None = None, writing: bool = False
    ) -> ForwardedResponse:
        headers = request_headers()
        if writing:
            request = self._session.request(method, path, data=body, headers=headers, timeout=self._write_timeout)
        else:  # the session's timeout
            request = self._session.request(method, path, data=body, headers=headers)
        with self._breaker.guard():
            async with request as response:
                return ForwardedResponse(response.status, await response.read())

    async def _json(self, method: str, path: str, payload: Any = None) -> dict[str, Any]:
        body = None if payload is None else msgspec.json.encode(payload)
        response = await self._request(method, path, body)
        raise_for_upstream_status(SERVICE, response.status_code, response.body)
        result: dict[str, Any] = msgspec.json.decode(response.body)
        return result

    async def search(self, query: str, top_k: int, team: str, similar_questions: bool = False) -> SearchResult:
        request = {"query": query, "top_k": top_k, "include_routes": True, "similar_questions": similar_questions,
                   "visible_to": visible_to(team), "team": team}  # fmt: skip
        return search_result(await self._json("POST", "/v1/search", request))

    async def remember_question(self, key: str, question: str, index_version: int, team: str) -> None:
        body = {"key": key, "question": question, "index_version": index_version, "team": team}
        await self._json("PUT", "/v1/answered-questions", body)

    async def index_version(self) -> int:
        return int((await self._json("GET", "/v1/index-version"))["index_version"])

    async def embed(self, text: str) -> Embedding:
        body = await self._json("POST", "/v1/embed", {"texts": [text]})
        return Embedding(str(body["embedder"]), [float(value) for value in body["vectors"][0]])

    async def similarities(self, texts: list[str], candidates: list[str]) -> list[list[float]]:
        body = await self._json("POST", "/v1/similarities", {"texts": texts, "candidates": candidates})
        scores = body.get("scores") if isinstance(body, dict) else None
        if (
            not isinstance(scores, list)
            or len(scores) != len(texts)
            or any(not isinstance(row, list) or len(row) != len(candidates) for row in scores)
        ):
            raise UpstreamCallError(SERVICE, "/v1/similarities answered without a score for every pair")
        return [[float(score) for score in row] for row in scores]

    async def put_route_examples(self, name: str, examples: list[str]) -> None:
        await self._json("PUT", f"/v1/route-examples/{name}", {"examples": examples})

    async def delete_route_examples(self, name: str) -> None:
        await self._json("DELETE", f"/v1/route-examples/{name}")

    async def forward(self, method: str, path: str, body: bytes, query: str) -> ForwardedResponse:
        return await self._request(method, f"{path}?{query}" if query else path, body or None, method in WRITES)

    async def ping(self) -> None:
        response = await self._request("GET", "/readyz")
        if response.status_code != 200:
            raise UpstreamCallError(SERVICE, f"not ready: HTTP {response.status_code}")


def retriever_session(base_url: str, timeout_seconds: float, internal_token: str) -> aiohttp.ClientSession:
    return upstream_session(base_url, aiohttp.ClientTimeout(total=timeout_seconds), internal_token)
