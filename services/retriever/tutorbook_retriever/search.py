"""Search: embed the query once; dense, lexical or hybrid (fused) chunk search; route-example matches."""

import re
import time
from dataclasses import dataclass
from typing import Any, Literal

from tutorbook_retriever import lexical
from tutorbook_retriever.clients.chunk_index import ChunkHit, Filters
from tutorbook_retriever.clients.embedder import Embedder
from tutorbook_retriever.clients.question_index import SimilarQuestion
from tutorbook_retriever.clients.route_index import RouteMatch
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.fusion import reciprocal_rank_fusion, weighted_score_fusion
from tutorbook_retriever.schemas import SearchHit, SearchMode
from tutorbook_service.errors import BadRequestError
from tutorbook_service.request_context import traced

MAX_QUERY_CHARS = 4000
Fusion = Literal["score", "rrf"]
ROUTE_MATCHES = 20  # route-example sets (adapters and small talk) scored per query


@dataclass(frozen=True)
class SearchOptions:
    top_k: int = 5
    mode: SearchMode = "hybrid"
    filters: Filters | None = None
    score_threshold: float | None = None
    include_routes: bool = False
    similar_questions: bool = False
    visible_to: list[str] | None = None  # only chunks these teams (and "public") may see; None: all
    team: str | None = None  # only this team's answered questions; None: any team's
    candidates: int = 50
    fusion: Fusion = "score"
    dense_weight: float = 0.5
    rrf_k: int = 60


@dataclass(frozen=True)
class SearchOutcome:
    hits: list[SearchHit]
    routes: list[RouteMatch]
    index_version: int
    embedding_seconds: float = 0.0
    similar: SimilarQuestion | None = None


def validate_query(query: str, top_k: int, max_top_k: int) -> None:
    if not query.strip():
        raise BadRequestError("query is empty", param="query")
    if len(query) > MAX_QUERY_CHARS:
        raise BadRequestError(f"query has {len(query)} characters; the limit is {MAX_QUERY_CHARS}", param="query")
    if not 1 <= top_k <= max_top_k:
        raise BadRequestError(f"top_k must be between 1 and {max_top_k}", param="top_k")


FILTER_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


def validate_filters(filters: dict[str, Any]) -> None:
    """What Qdrant can match exactly: a metadata key of letters, digits, ``_`` and ``-``; a string, integer
    or boolean; or a list of strings, or of integers."""
    for key, wanted in filters.items():
        if not FILTER_KEY.fullmatch(key):
            raise BadRequestError(
                f"filters key {key[:80]!r} must be 1-64 letters, digits, _ or -", param=f"filters.{key[:80]}"
            )
        if isinstance(wanted, list):
            if not (all(is_integer(v) for v in wanted) or all(isinstance(v, str) for v in wanted)):
                raise BadRequestError(f"filters.{key} must list only strings or only integers", param=f"filters.{key}")
        elif not (isinstance(wanted, str | bool) or is_integer(wanted)):
            raise BadRequestError(
                f"filters.{key} must be a string, an integer, a boolean or a list", param=f"filters.{key}"
            )


def is_integer(value: Any) -> bool:
    """An integer Qdrant stores (64-bit signed)."""
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def live_hits(hits: list[ChunkHit], live_hashes: dict[str, str]) -> list[ChunkHit]:
    """Only chunks of the registered version of their document (see ingestion's switch)."""
    return [hit for hit in hits if live_hashes.get(str(hit.payload["doc_id"])) == hit.payload.get("content_hash")]


def dot(left: list[float], right: list[float]) -> float:
    return sum(a * b for a, b in zip(left, right, strict=True))


def to_search_hit(payload: dict[str, Any], score: float, dense: float | None, lexical_score: float | None) -> SearchHit:
    return SearchHit(
        doc_id=str(payload["doc_id"]),
        chunk_id=str(payload["chunk_id"]),
        title=str(payload.get("title", "")),
        section=str(payload.get("section", "")),
        text=str(payload.get("text", "")),
        score=round(score, 6),
        dense_score=None if dense is None else round(dense, 6),
        lexical_score=None if lexical_score is None else round(lexical_score, 6),
        metadata=dict(payload.get("metadata") or {}),
    )


def candidate_hits(
    query: str, vector: list[float], options: SearchOptions, store: Store
) -> tuple[list[ChunkHit], list[ChunkHit]]:
    """The live dense and lexical candidates (each per the mode). Qdrant applies the filters (metadata, and
    access when ``visible_to`` is given) before it takes the top ``limit``: a team never gets fewer hits
    because another team's chunks ranked higher, and never sees them."""
    filters, visible = options.filters or {}, options.visible_to
    limit = max(options.candidates, options.top_k)
    dense = store.chunks.dense_search(vector, limit, filters, visible) if options.mode != "lexical" else []
    sparse = []
    if options.mode != "dense":
        sparse = store.chunks.lexical_search(lexical.query_vector(query), limit, filters, visible)
    live = store.registry.hashes([str(hit.payload["doc_id"]) for hit in [*dense, *sparse]])
    return live_hits(dense, live), live_hits(sparse, live)


def search_chunks(query: str, options: SearchOptions, embedder: Embedder, store: Store) -> SearchOutcome:
    started = time.perf_counter()
    with traced("embed"):
        [vector] = embedder.embed([query])
    embedding_seconds = time.perf_counter() - started
    with traced("candidates"):  # dense and sparse, from Qdrant
        dense, sparse = candidate_hits(query, vector, options, store)

    payloads = {hit.point_id: hit.payload for hit in [*sparse, *dense]}
    dense_scores = {hit.point_id: hit.score for hit in dense}
    lexical_scores = {hit.point_id: hit.score for hit in sparse}
    if options.mode == "hybrid" and options.fusion == "rrf":
        ranked = reciprocal_rank_fusion(
            [[hit.point_id for hit in dense], [hit.point_id for hit in sparse]], k=options.rrf_k
        )
    elif options.mode == "hybrid":
        weights = (options.dense_weight, 1.0 - options.dense_weight)
        ranked = weighted_score_fusion([dense_scores, lexical_scores], weights)
    else:
        ranked = [(hit.point_id, hit.score) for hit in (dense if options.mode == "dense" else sparse)]

    if options.mode == "lexical" or options.score_threshold is not None:
        # A lexical-only hit has no dense score yet: compute it from the stored vector (one call).
        missing = [point_id for point_id, _ in ranked[: options.top_k * 4] if point_id not in dense_scores]
        for point_id, stored in store.chunks.dense_vectors(missing).items():
            dense_scores[point_id] = dot(vector, stored)
    if options.score_threshold is not None:
        threshold = options.score_threshold
        ranked = [(pid, score) for pid, score in ranked if dense_scores.get(pid, -1.0) >= threshold]
    top = ranked[: options.top_k]
    if options.mode == "hybrid":
        needed = [point_id for point_id, _ in top if point_id not in dense_scores]
        for point_id, stored in store.chunks.dense_vectors(needed).items():
            dense_scores[point_id] = dot(vector, stored)

    hits = [
        to_search_hit(payloads[point_id], score, dense_scores.get(point_id), lexical_scores.get(point_id))
        for point_id, score in top
    ]
    routes = store.routes.search(vector, ROUTE_MATCHES) if options.include_routes else []
    version = store.registry.index_version()
    similar = store.questions.nearest(vector, version, options.team) if options.similar_questions else None
    return SearchOutcome(hits, routes, version, embedding_seconds, similar)
