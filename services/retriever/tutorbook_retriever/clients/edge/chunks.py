"""The chunk collection on Qdrant Edge: a dense vector and a BM25-style sparse vector (IDF) per chunk."""

from typing import Any

from qdrant_edge import (
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeSparseVectorParams,
    EdgeVectorParams,
    FieldCondition,
    Filter,
    IsEmptyCondition,
    MatchAny,
    Modifier,
    PayloadSchemaType,
    Point,
    Query,
    QueryRequest,
    ScrollRequest,
    SparseVector,
    UpdateOperation,
)

from tutorbook_retriever.access import ACCESS_FIELD
from tutorbook_retriever.clients.chunk_index import (
    DENSE,
    EMBEDDED_FIELDS,
    LEXICAL,
    SCROLL_PAGE,
    ChunkHit,
    ChunkPoint,
    StoredChunk,
)
from tutorbook_retriever.clients.edge.shards import SEARCH_THREADS, EdgeShards, Filters, equals, metadata_filter
from tutorbook_retriever.lexical import SparseVector as LexicalVector


def chunks_config(dimension: int) -> EdgeConfig:
    return EdgeConfig(
        vectors={DENSE: EdgeVectorParams(size=dimension, distance=Distance.Cosine)},
        sparse_vectors={LEXICAL: EdgeSparseVectorParams(modifier=Modifier.Idf)},
        max_search_threads=SEARCH_THREADS,
    )


def chunk_filter(filters: Filters, visible_to: list[str] | None) -> Filter | None:
    """The metadata conditions (all must hold) and, when ``visible_to`` is given, the access rule: the chunk's
    access list names one of ``visible_to``, or it has none (ingested before access lists: public). The
    same filter as the server backend's ``chunk_index.chunk_filter``, in Edge's types."""
    metadata = metadata_filter(filters)
    if visible_to is None:
        return metadata
    visible: list[Any] = [
        FieldCondition(key=ACCESS_FIELD, match=MatchAny(list(visible_to))),
        IsEmptyCondition(ACCESS_FIELD),
    ]
    return Filter(must=metadata.must if metadata else None, should=visible)


class EdgeChunkIndex:
    def __init__(self, shards: EdgeShards, name: str) -> None:
        self._shards, self._name = shards, name
        self._shard: Any = None

    def ensure(self, dimension: int) -> None:
        keyword = PayloadSchemaType.Keyword
        indexes = {"doc_id": keyword, "content_hash": keyword, ACCESS_FIELD: keyword}
        self._shard = self._shards.open_graph(self._name, chunks_config(dimension), indexes)

    def write(self, points: list[ChunkPoint]) -> None:
        edge_points = [
            Point(
                point.point_id,
                {DENSE: point.dense, LEXICAL: SparseVector(point.lexical.indices, point.lexical.values)},
                point.payload,
            )
            for point in points
        ]
        self._shard.update(UpdateOperation.upsert_points(edge_points), [point.point_id for point in points])

    def delete_stale(self, doc_id: str, keep_hash: str) -> None:
        stale = Filter(must=[equals("doc_id", doc_id)], must_not=[equals("content_hash", keep_hash)])
        self._shard.update(UpdateOperation.delete_points_by_filter(stale))

    def delete_document(self, doc_id: str) -> None:
        self._shard.update(UpdateOperation.delete_points_by_filter(Filter(must=[equals("doc_id", doc_id)])))

    def document_chunks(self, doc_id: str) -> list[StoredChunk]:
        found: list[StoredChunk] = []
        offset: Any = None
        only_document = Filter(must=[equals("doc_id", doc_id)])
        while True:
            page, offset = self._shard.scroll(
                ScrollRequest(offset=offset, limit=SCROLL_PAGE, filter=only_document, with_payload=EMBEDDED_FIELDS,
                              with_vector=[DENSE])
            )  # fmt: skip
            found += [
                StoredChunk(dict(point.payload or {}), list(point.vector[DENSE]))
                for point in page
                if isinstance(point.vector, dict) and DENSE in point.vector
            ]
            if offset is None:
                return found

    def dense_search(
        self, vector: list[float], limit: int, filters: Filters, visible_to: list[str] | None
    ) -> list[ChunkHit]:
        return self._query(Query.Nearest(vector, using=DENSE), limit, chunk_filter(filters, visible_to))

    def lexical_search(
        self, vector: LexicalVector, limit: int, filters: Filters, visible_to: list[str] | None
    ) -> list[ChunkHit]:
        if not vector.indices:
            return []
        query = Query.Nearest(SparseVector(vector.indices, vector.values), using=LEXICAL)
        return self._query(query, limit, chunk_filter(filters, visible_to))

    def _query(self, query: Query, limit: int, query_filter: Filter | None) -> list[ChunkHit]:
        request = QueryRequest(limit=limit, query=query, filter=query_filter, with_payload=True)
        return [
            ChunkHit(str(point.id), float(point.score), dict(point.payload or {}))
            for point in self._shard.query(request)
        ]

    def dense_vectors(self, point_ids: list[str]) -> dict[str, list[float]]:
        if not point_ids:
            return {}
        records = self._shard.retrieve(list(point_ids), False, [DENSE])
        return {str(record.id): list(record.vector[DENSE]) for record in records if isinstance(record.vector, dict)}

    def count(self) -> int:
        return int(self._shard.count(CountRequest(exact=True)))

    def wait_indexed(self, timeout: float) -> None:
        self._shard.wait_built(timeout)
