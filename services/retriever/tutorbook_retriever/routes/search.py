from litestar import post
from litestar.datastructures import State

from tutorbook_retriever.schemas import SearchRequest, SearchResponse
from tutorbook_retriever.search import search_chunks, validate_query
from tutorbook_retriever.services import RetrieverServices


@post("/v1/search", status_code=200, sync_to_thread=True)
def search(data: SearchRequest, state: State) -> SearchResponse:
    services: RetrieverServices = state.services
    validate_query(data.query, data.top_k, services.max_top_k)
    with services.metrics.search_seconds.time():
        hits = search_chunks(data.query, data.top_k, services.embedder, services.store)
    return SearchResponse(hits=hits)
