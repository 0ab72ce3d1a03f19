"""Search: embed the query once, find the nearest chunks."""

from tutorbook_common.errors import BadRequestError
from tutorbook_retriever.clients.embedder import Embedder
from tutorbook_retriever.clients.vector_store import VectorStore
from tutorbook_retriever.schemas import SearchHit

MAX_QUERY_CHARS = 4000


def validate_query(query: str, top_k: int, max_top_k: int) -> None:
    if not query.strip():
        raise BadRequestError("query is empty", param="query")
    if len(query) > MAX_QUERY_CHARS:
        raise BadRequestError(f"query has {len(query)} characters; the limit is {MAX_QUERY_CHARS}", param="query")
    if not 1 <= top_k <= max_top_k:
        raise BadRequestError(f"top_k must be between 1 and {max_top_k}", param="top_k")


def search_chunks(query: str, top_k: int, embedder: Embedder, store: VectorStore) -> list[SearchHit]:
    [vector] = embedder.embed([query])
    return [
        SearchHit(
            doc_id=str(found.payload["doc_id"]),
            chunk_id=str(found.payload["chunk_id"]),
            title=str(found.payload.get("title", "")),
            section=str(found.payload.get("section", "")),
            text=str(found.payload.get("text", "")),
            score=round(found.score, 6),
            metadata=dict(found.payload.get("metadata") or {}),
        )
        for found in store.search(vector, top_k)
    ]
