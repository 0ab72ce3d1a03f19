"""The document registry: one record per document, naming the content hash of its live chunks.

Writing a document's record is the single step that switches searches from its old chunks to its new
ones: chunks whose hash is not the registered one are never returned. The registry also holds the index
version, which changes on every change to the index.
"""

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from qdrant_client import models

from tutorbook_retriever.access import ACCESS_FIELD
from tutorbook_retriever.clients.qdrant import QdrantCollection

NAMESPACE = uuid.UUID("1d4f5e7a-9c1b-4b8e-a3f2-6e0d9b7c5a41")
STATE_POINT = str(uuid.uuid5(NAMESPACE, "__index_state__"))
SCROLL_PAGE = 1000


@dataclass(frozen=True)
class DocumentRecord:
    doc_id: str
    title: str
    content_hash: str
    chunks: int
    metadata: dict[str, Any] = field(default_factory=dict)
    updated_at: float = 0.0
    access: list[str] = field(default_factory=list)  # empty: registered before access lists (public)


class DocumentRegistry(Protocol):
    def ensure(self) -> None: ...

    def get(self, doc_id: str) -> DocumentRecord | None: ...

    def hashes(self, doc_ids: list[str]) -> dict[str, str]: ...

    def put(self, records: list[DocumentRecord]) -> None:
        """Register documents; each record is the switch for its document (one point, written whole)."""
        ...

    def remove(self, doc_id: str) -> None: ...

    def all(self) -> list[DocumentRecord]: ...

    def index_version(self) -> int: ...

    def bump_version(self) -> int: ...


def record_id(doc_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, doc_id))


def record_from_payload(payload: dict[str, Any]) -> DocumentRecord:
    return DocumentRecord(
        doc_id=str(payload["doc_id"]),
        title=str(payload.get("title", "")),
        content_hash=str(payload["content_hash"]),
        chunks=int(payload.get("chunks", 0)),
        metadata=dict(payload.get("metadata") or {}),
        updated_at=float(payload.get("updated_at", 0.0)),
        access=[str(entry) for entry in payload.get(ACCESS_FIELD) or []],
    )


class QdrantDocumentRegistry(QdrantCollection):
    _known_version: int | None = None

    def ensure(self) -> None:
        self._create_if_missing({})

    def get(self, doc_id: str) -> DocumentRecord | None:
        with self._qdrant.guard():
            found = self._client.retrieve(self._collection, ids=[record_id(doc_id)], with_payload=True)
        return record_from_payload(dict(found[0].payload or {})) if found else None

    def hashes(self, doc_ids: list[str]) -> dict[str, str]:
        if not doc_ids:
            return {}
        ids: list[int | str | uuid.UUID] = [record_id(doc_id) for doc_id in set(doc_ids)]
        with self._qdrant.guard():
            found = self._client.retrieve(self._collection, ids=ids, with_payload=["doc_id", "content_hash"])
        return {str(r.payload["doc_id"]): str(r.payload["content_hash"]) for r in found if r.payload}

    def put(self, records: list[DocumentRecord]) -> None:
        points = [
            models.PointStruct(id=record_id(record.doc_id), vector={}, payload={"kind": "document", **asdict(record)})
            for record in records
        ]
        with self._qdrant.guard():
            self._client.upsert(self._collection, points=points, wait=True)

    def remove(self, doc_id: str) -> None:
        with self._qdrant.guard():
            self._client.delete(self._collection, points_selector=[record_id(doc_id)], wait=True)

    def all(self) -> list[DocumentRecord]:
        only_documents = models.Filter(
            must=[models.FieldCondition(key="kind", match=models.MatchValue(value="document"))]
        )
        records: list[DocumentRecord] = []
        offset: Any = None
        while True:
            with self._qdrant.guard():
                page, offset = self._client.scroll(
                    self._collection, scroll_filter=only_documents, limit=SCROLL_PAGE, offset=offset, with_payload=True
                )
            records.extend(record_from_payload(dict(point.payload or {})) for point in page)
            if offset is None:
                return sorted(records, key=lambda record: record.doc_id)

    def index_version(self) -> int:
        """Read from Qdrant, except in embedded mode: there this process is the only writer (the folder is
        locked), so the version it last read or wrote is exact and costs nothing to read again."""
        if self._known_version is not None:
            return self._known_version
        with self._qdrant.guard():
            found = self._client.retrieve(self._collection, ids=[STATE_POINT], with_payload=True)
        version = int(found[0].payload["index_version"]) if found and found[0].payload else 0
        if not self._qdrant.server:
            self._known_version = version
        return version

    def bump_version(self) -> int:
        """A new version, greater than the last one and (as a nanosecond clock) unique across replicas."""
        with self._qdrant.guard():
            self._known_version = None
            version = max(time.time_ns(), self.index_version() + 1)
            point = models.PointStruct(id=STATE_POINT, vector={}, payload={"kind": "state", "index_version": version})
            self._client.upsert(self._collection, points=[point], wait=True)
            if not self._qdrant.server:
                self._known_version = version
        return version
