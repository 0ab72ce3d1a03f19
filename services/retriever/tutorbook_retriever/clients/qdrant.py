"""Opening Qdrant: embedded local mode on disk, or a server, behind one handle.

The same client API serves both (``QdrantClient(path=...)`` and ``QdrantClient(url=...)``). Local mode is
not safe for concurrent use from several threads, so its handle serialises every call; a server handles
concurrency itself.
"""

import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from qdrant_client import QdrantClient, models


@dataclass
class QdrantHandle:
    client: QdrantClient
    server: bool
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def guard(self) -> AbstractContextManager[object]:
        """Hold this around every client call (a no-op against a server)."""
        return nullcontext() if self.server else self._lock

    def close(self) -> None:
        self.client.close()


def open_qdrant(url: str, api_key: str, path: Path) -> QdrantHandle:
    """A Qdrant server when ``url`` is set, otherwise embedded local mode on disk at ``path``."""
    if url:
        return QdrantHandle(QdrantClient(url=url, api_key=api_key or None), server=True)
    path.mkdir(parents=True, exist_ok=True)
    return QdrantHandle(QdrantClient(path=str(path)), server=False)


class QdrantCollection:
    """Base of the classes that each own one collection through a shared handle."""

    def __init__(self, qdrant: QdrantHandle, collection: str) -> None:
        self._qdrant = qdrant
        self._client = qdrant.client
        self._collection = collection

    def _create_if_missing(
        self,
        vectors: dict[str, models.VectorParams] | models.VectorParams,
        sparse: dict[str, models.SparseVectorParams] | None = None,
        indexes: dict[str, models.PayloadSchemaType] | None = None,
    ) -> None:
        """The collection, created when it does not exist, with a payload index on each filtered field (on a
        server: local mode scans every point anyway, and warns about payload indexes)."""
        with self._qdrant.guard():
            if not self._client.collection_exists(self._collection):
                self._client.create_collection(self._collection, vectors_config=vectors, sparse_vectors_config=sparse)
            if self._qdrant.server and indexes:
                self._index_missing_fields(indexes)

    def _index_missing_fields(self, indexes: dict[str, models.PayloadSchemaType]) -> None:
        """A payload index on each field that has none yet: a collection created before a field was filtered
        on (``access``) gets its index at the next start, not only new collections."""
        present = self._client.get_collection(self._collection).payload_schema
        for key, schema in indexes.items():
            if key not in present:
                self._client.create_payload_index(self._collection, key, schema, wait=True)


def cosine_vectors(dimension: int) -> models.VectorParams:
    return models.VectorParams(size=dimension, distance=models.Distance.COSINE)
