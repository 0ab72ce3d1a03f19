"""The chunk collection: one point per chunk with a dense vector and a BM25-style sparse vector."""

import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from qdrant_client import models

from tutorbook_retriever.access import ACCESS_FIELD
from tutorbook_retriever.clients.qdrant import QdrantCollection, cosine_vectors
from tutorbook_retriever.lexical import SparseVector

DENSE = "dense"
LEXICAL = "bm25"
EMBEDDED_FIELDS = ["title", "section", "text"]  # what a chunk's embedded text is made of (ingestion.embedding_text)
SCROLL_PAGE = 256
Filters = dict[str, Any]  # metadata key -> value, or list of accepted values


@dataclass(frozen=True)
class ChunkPoint:
    point_id: str
    dense: list[float]
    lexical: SparseVector
    payload: dict[str, Any]


@dataclass(frozen=True)
class StoredChunk:
    """A chunk already in the index: the parts of its payload that were embedded, and its dense vector."""

    payload: dict[str, Any]
    dense: list[float]


@dataclass(frozen=True)
class ChunkHit:
    point_id: str
    score: float
    payload: dict[str, Any]


class ChunkIndex(Protocol):
    def ensure(self, dimension: int) -> None: ...

    def write(self, points: list[ChunkPoint]) -> None: ...

    def delete_stale(self, doc_id: str, keep_hash: str) -> None:
        """Delete every chunk of ``doc_id`` whose content hash is not ``keep_hash``."""
        ...

    def delete_document(self, doc_id: str) -> None: ...

    def document_chunks(self, doc_id: str) -> list[StoredChunk]:
        """Every stored chunk of ``doc_id``, of any version, with the payload fields in ``EMBEDDED_FIELDS``."""
        ...

    def dense_search(
        self, vector: list[float], limit: int, filters: Filters, visible_to: list[str] | None
    ) -> list[ChunkHit]:
        """The ``limit`` nearest chunks among those matching ``filters`` and visible to ``visible_to`` (None:
        every chunk), filtered inside Qdrant before the top ``limit`` is taken."""
        ...

    def lexical_search(
        self, vector: SparseVector, limit: int, filters: Filters, visible_to: list[str] | None
    ) -> list[ChunkHit]: ...

    def dense_vectors(self, point_ids: list[str]) -> dict[str, list[float]]: ...

    def count(self) -> int: ...

    def wait_indexed(self, timeout: float) -> None:
        """Until the index built in the background for what was written has been built (benchmarks: search
        time is measured on the index searches will use)."""
        ...


def metadata_filter(filters: Filters, extra: list[models.Condition] | None = None) -> models.Filter | None:
    conditions: list[models.Condition] = list(extra or [])
    for key, wanted in filters.items():
        match: models.Match = (
            models.MatchAny(any=list(wanted)) if isinstance(wanted, list) else models.MatchValue(value=wanted)
        )
        conditions.append(models.FieldCondition(key=f"metadata.{key}", match=match))
    return models.Filter(must=conditions) if conditions else None


def chunk_filter(filters: Filters, visible_to: list[str] | None) -> models.Filter | None:
    """The metadata conditions (all must hold) and, when ``visible_to`` is given, the access rule: the chunk's
    access list names one of ``visible_to``, or it has none (ingested before access lists: public)."""
    metadata = metadata_filter(filters)
    if visible_to is None:
        return metadata
    visible: list[models.Condition] = [
        models.FieldCondition(key=ACCESS_FIELD, match=models.MatchAny(any=list(visible_to))),
        models.IsEmptyCondition(is_empty=models.PayloadField(key=ACCESS_FIELD)),
    ]
    return models.Filter(must=metadata.must if metadata else None, should=visible)


def document_condition(doc_id: str) -> models.FieldCondition:
    return models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))


class QdrantChunkIndex(QdrantCollection):
    def ensure(self, dimension: int) -> None:
        keyword = models.PayloadSchemaType.KEYWORD
        self._create_if_missing(
            {DENSE: cosine_vectors(dimension)},
            sparse={LEXICAL: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            indexes={"doc_id": keyword, "content_hash": keyword, ACCESS_FIELD: keyword},
        )

    def write(self, points: list[ChunkPoint]) -> None:
        structs = [
            models.PointStruct(
                id=point.point_id,
                vector={
                    DENSE: point.dense,
                    LEXICAL: models.SparseVector(indices=point.lexical.indices, values=point.lexical.values),
                },
                payload=point.payload,
            )
            for point in points
        ]
        with self._qdrant.guard():
            self._client.upsert(self._collection, points=structs, wait=True)

    def delete_stale(self, doc_id: str, keep_hash: str) -> None:
        stale = models.Filter(
            must=[document_condition(doc_id)],
            must_not=[models.FieldCondition(key="content_hash", match=models.MatchValue(value=keep_hash))],
        )
        with self._qdrant.guard():
            self._client.delete(self._collection, points_selector=models.FilterSelector(filter=stale), wait=True)

    def delete_document(self, doc_id: str) -> None:
        selector = models.FilterSelector(filter=models.Filter(must=[document_condition(doc_id)]))
        with self._qdrant.guard():
            self._client.delete(self._collection, points_selector=selector, wait=True)

    def document_chunks(self, doc_id: str) -> list[StoredChunk]:
        found: list[StoredChunk] = []
        offset: Any = None
        while True:
            with self._qdrant.guard():
                page, offset = self._client.scroll(
                    self._collection,
                    scroll_filter=models.Filter(must=[document_condition(doc_id)]),
                    limit=SCROLL_PAGE,
                    offset=offset,
                    with_payload=EMBEDDED_FIELDS,
                    with_vectors=[DENSE],
                )
            for record in page:
                vector = record.vector.get(DENSE) if isinstance(record.vector, dict) else None
                if isinstance(vector, list):
                    found.append(StoredChunk(dict(record.payload or {}), [float(v) for v in vector]))  # type: ignore[arg-type]
            if offset is None:
                return found

    def dense_search(
        self, vector: list[float], limit: int, filters: Filters, visible_to: list[str] | None
    ) -> list[ChunkHit]:
        return self._query(vector, DENSE, limit, chunk_filter(filters, visible_to))

    def lexical_search(
        self, vector: SparseVector, limit: int, filters: Filters, visible_to: list[str] | None
    ) -> list[ChunkHit]:
        if not vector.indices:
            return []
        sparse = models.SparseVector(indices=vector.indices, values=vector.values)
        return self._query(sparse, LEXICAL, limit, chunk_filter(filters, visible_to))

    def _query(self, query: Any, using: str, limit: int, query_filter: models.Filter | None) -> list[ChunkHit]:
        with self._qdrant.guard():
            response = self._client.query_points(
                self._collection, query=query, using=using, limit=limit, query_filter=query_filter, with_payload=True
            )
        return [ChunkHit(str(point.id), float(point.score), dict(point.payload or {})) for point in response.points]

    def dense_vectors(self, point_ids: list[str]) -> dict[str, list[float]]:
        if not point_ids:
            return {}
        ids: list[int | str | uuid.UUID] = list(point_ids)
        with self._qdrant.guard():
            records = self._client.retrieve(self._collection, ids=ids, with_vectors=[DENSE], with_payload=False)
        vectors: dict[str, list[float]] = {}
        for record in records:
            vector = record.vector.get(DENSE) if isinstance(record.vector, dict) else None
            if isinstance(vector, list) and all(isinstance(value, float | int) for value in vector):
                vectors[str(record.id)] = [float(value) for value in vector if isinstance(value, float | int)]
        return vectors

    def count(self) -> int:
        with self._qdrant.guard():
            return int(self._client.count(self._collection, exact=True).count)

    def wait_indexed(self, timeout: float) -> None:
        """A server's optimizers index in its own threads: until the collection's status is no longer yellow
        (optimizing; local mode's never is)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._qdrant.guard():
                if self._client.get_collection(self._collection).status != models.CollectionStatus.YELLOW:
                    return
            time.sleep(0.5)
