"""Chunk storage and nearest-neighbour search: a small Protocol and the Qdrant implementation.

The same :class:`QdrantVectorStore` code serves embedded local mode (``QdrantClient(path=...)``) and a
Qdrant server (``QdrantClient(url=...)``): only the client construction differs.
"""

import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from qdrant_client import QdrantClient, models


@dataclass(frozen=True)
class StoredChunk:
    point_id: str
    vector: list[float]
    payload: dict[str, Any]


@dataclass(frozen=True)
class ScoredChunk:
    score: float
    payload: dict[str, Any]


class VectorStore(Protocol):
    def ensure_collection(self, dimension: int) -> None: ...

    def replace_document(self, doc_id: str, chunks: list[StoredChunk]) -> None:
        """Make ``chunks`` the only chunks of ``doc_id``."""
        ...

    def search(self, vector: list[float], limit: int) -> list[ScoredChunk]: ...

    def count(self) -> int: ...


def open_qdrant_client(url: str, api_key: str, path: Path) -> QdrantClient:
    """A Qdrant server when ``url`` is set, otherwise embedded local mode on disk at ``path``."""
    if url:
        return QdrantClient(url=url, api_key=api_key or None)
    path.mkdir(parents=True, exist_ok=True)
    return QdrantClient(path=str(path))


class QdrantVectorStore:
    def __init__(self, client: QdrantClient, collection: str, *, server: bool) -> None:
        self._client = client
        self._collection = collection
        self._server = server
        # Local mode is not safe for concurrent writers; a server is, but one lock keeps both alike.
        self._write_lock = threading.Lock()

    def ensure_collection(self, dimension: int) -> None:
        if self._client.collection_exists(self._collection):
            return
        self._client.create_collection(
            self._collection,
            vectors_config=models.VectorParams(size=dimension, distance=models.Distance.COSINE),
        )
        if self._server:  # local mode scans every point anyway and warns about payload indexes
            self._client.create_payload_index(self._collection, "doc_id", models.PayloadSchemaType.KEYWORD)

    def replace_document(self, doc_id: str, chunks: list[StoredChunk]) -> None:
        # New points go in first, then every other point of the document goes: a search sees the old
        # chunks or the new ones, never none. (Issue 3 makes the switch a single atomic step.)
        keep: list[int | str | uuid.UUID] = [chunk.point_id for chunk in chunks]
        with self._write_lock:
            if chunks:
                self._client.upsert(
                    self._collection,
                    points=[
                        models.PointStruct(id=chunk.point_id, vector=chunk.vector, payload=chunk.payload)
                        for chunk in chunks
                    ],
                    wait=True,
                )
            stale = models.Filter(
                must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))],
                must_not=[models.HasIdCondition(has_id=keep)] if keep else [],
            )
            self._client.delete(self._collection, points_selector=models.FilterSelector(filter=stale), wait=True)

    def search(self, vector: list[float], limit: int) -> list[ScoredChunk]:
        response = self._client.query_points(self._collection, query=vector, limit=limit, with_payload=True)
        return [ScoredChunk(score=float(point.score), payload=dict(point.payload or {})) for point in response.points]

    def count(self) -> int:
        return int(self._client.count(self._collection, exact=True).count)

    def close(self) -> None:
        self._client.close()
