import dataclasses
import logging
import time

from litestar import post
from litestar.datastructures import State

from tutorbook_retriever.schemas import RouteHit, SearchRequest, SearchResponse
from tutorbook_retriever.search import search_chunks, validate_query
from tutorbook_retriever.services import RetrieverServices

log = logging.getLogger("tutorbook.search")


@post("/v1/search", status_code=200, sync_to_thread=True)
def search(data: SearchRequest, state: State) -> SearchResponse:
    services: RetrieverServices = state.services
    validate_query(data.query, data.top_k, services.max_top_k)
    options = dataclasses.replace(
        services.search_defaults,
        top_k=data.top_k,
        mode=data.mode,
        filters=dict(data.filters),
        score_threshold=data.score_threshold,
        include_routes=data.include_routes,
    )
    started = time.perf_counter()
    outcome = search_chunks(data.query, options, services.embedder, services.store)
    seconds = time.perf_counter() - started
    services.metrics.search_seconds.labels(mode=data.mode).observe(seconds)
    log.info("search", extra={"mode": data.mode, "hits": len(outcome.hits), "duration_ms": round(seconds * 1000, 2)})
    services.metrics.query_embedding_seconds.observe(outcome.embedding_seconds)
    routes = [RouteHit(match.adapter, match.score, match.example) for match in outcome.routes]
    return SearchResponse(hits=outcome.hits, routes=routes, index_version=outcome.index_version)
