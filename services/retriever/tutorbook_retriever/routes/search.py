import dataclasses
import logging
import time

import numpy as np
from litestar import post, put
from litestar.datastructures import State

from tutorbook_retriever.access import validate_access, validate_team
from tutorbook_retriever.schemas import (
    AnsweredQuestion,
    EmbedRequest,
    EmbedResponse,
    RouteHit,
    SearchRequest,
    SearchResponse,
    SimilaritiesRequest,
    SimilaritiesResponse,
    SimilarQuestionHit,
)
from tutorbook_retriever.search import MAX_QUERY_CHARS, search_chunks, validate_filters, validate_query
from tutorbook_retriever.services import RetrieverServices
from tutorbook_service.errors import BadRequestError

log = logging.getLogger("tutorbook.search")
MAX_EMBED_TEXTS = 32
MAX_SIMILARITY_TEXTS = 160  # texts and candidates together: an answer's sentences and its passages'


@post("/v1/search", status_code=200, sync_to_thread=True)
def search(data: SearchRequest, state: State) -> SearchResponse:
    services: RetrieverServices = state.services
    validate_query(data.query, data.top_k, services.max_top_k)
    validate_filters(data.filters)
    if data.visible_to is not None:
        validate_access(data.visible_to, "visible_to")
    validate_team(data.team)
    options = dataclasses.replace(
        services.search_defaults,
        top_k=data.top_k,
        mode=data.mode,
        filters=dict(data.filters),
        score_threshold=data.score_threshold,
        include_routes=data.include_routes,
        similar_questions=data.similar_questions,
        visible_to=data.visible_to,
        team=data.team,
    )
    started = time.perf_counter()
    outcome = search_chunks(data.query, options, services.embedder, services.store)
    seconds = time.perf_counter() - started
    services.metrics.search_seconds.labels(mode=data.mode).observe(seconds)
    log.info("search", extra={"mode": data.mode, "hits": len(outcome.hits), "duration_ms": round(seconds * 1000, 2)})
    services.metrics.query_embedding_seconds.observe(outcome.embedding_seconds)
    routes = [RouteHit(match.adapter, match.score, match.example) for match in outcome.routes]
    similar = outcome.similar
    return SearchResponse(
        hits=outcome.hits,
        routes=routes,
        index_version=outcome.index_version,
        similar=None if similar is None else SimilarQuestionHit(similar.key, similar.question, similar.score),
    )


@put("/v1/answered-questions", sync_to_thread=True)
def put_answered_question(data: AnsweredQuestion, state: State) -> dict[str, str | bool]:
    """Remember that ``question`` was answered (cache ``key``) at ``index_version``: the gateway's semantic
    cache finds it again when a similar question comes from the same ``team``. ``kept`` is false when the
    index is full."""
    services: RetrieverServices = state.services
    validate_query(data.question, 1, 1)
    validate_team(data.team)
    [vector] = services.embedder.embed([data.question])
    kept = services.store.questions.put(data.key, data.question, data.index_version, vector, data.team)
    return {"key": data.key, "kept": kept}


@post("/v1/embed", status_code=200, sync_to_thread=True)
def embed(data: EmbedRequest, state: State) -> EmbedResponse:
    """The texts' vectors, named by the embedder that made them: the gateway serves embedding classifiers
    with these, and refuses one trained on another embedder."""
    services: RetrieverServices = state.services
    if not 1 <= len(data.texts) <= MAX_EMBED_TEXTS:
        raise BadRequestError(f"texts must hold 1 to {MAX_EMBED_TEXTS} texts", param="texts")
    refuse_bad_texts(data.texts, "texts")
    vectors = services.embedder.embed(data.texts)
    return EmbedResponse(services.embedder_name, services.embedder.dimension, vectors)


@post("/v1/similarities", status_code=200, sync_to_thread=True)
def similarities(data: SimilaritiesRequest, state: State) -> SimilaritiesResponse:
    """The cosine of every text with every candidate, from one batch through the embedder: the gateway
    checks an answer's sentences against its passages' sentences with these."""
    services: RetrieverServices = state.services
    if not data.texts or not data.candidates or len(data.texts) + len(data.candidates) > MAX_SIMILARITY_TEXTS:
        raise BadRequestError(
            f"texts and candidates must each hold at least 1 text, and {MAX_SIMILARITY_TEXTS} together at most",
            param="texts",
        )
    refuse_bad_texts(data.texts, "texts")
    refuse_bad_texts(data.candidates, "candidates")
    scores = services.sentence_vectors.similarities(services.embedder, data.texts, data.candidates)
    return SimilaritiesResponse(services.embedder_name, np.round(scores, 4).tolist())


def refuse_bad_texts(texts: list[str], field: str) -> None:
    if any(not text.strip() or len(text) > MAX_QUERY_CHARS for text in texts):
        raise BadRequestError(f"every text needs 1 to {MAX_QUERY_CHARS} characters", param=field)
