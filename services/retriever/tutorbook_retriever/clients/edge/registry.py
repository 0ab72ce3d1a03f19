"""The document registry on Qdrant Edge: one payload-only point per document, and the index version."""

import time
from dataclasses import asdict
from typing import Any

from qdrant_edge import EdgeConfig, EdgeSparseVectorParams, Filter, Point, ScrollRequest, UpdateOperation

from tutorbook_retriever.clients.document_registry import (
    SCROLL_PAGE,
    STATE_POINT,
    DocumentRecord,
    record_from_payload,
    record_id,
)
from tutorbook_retriever.clients.edge.shards import SEARCH_THREADS, EdgeShards, equals

# A shard needs a vector to be configured; registry points carry none.
REGISTRY_CONFIG = EdgeConfig(sparse_vectors={"unused": EdgeSparseVectorParams()}, max_search_threads=SEARCH_THREADS)


class EdgeDocumentRegistry:
    """This process is the only writer of its shard folder, so the version it last read or wrote is exact."""

    def __init__(self, shards: EdgeShards, name: str) -> None:
        self._shards, self._name = shards, name
        self._shard: Any = None
        self._known_version: int | None = None

    def ensure(self) -> None:
        self._shard = self._shards.open(self._name, REGISTRY_CONFIG)

    def get(self, doc_id: str) -> DocumentRecord | None:
        found = self._shard.retrieve([record_id(doc_id)], True, False)
        return record_from_payload(dict(found[0].payload or {})) if found else None

    def hashes(self, doc_ids: list[str]) -> dict[str, str]:
        if not doc_ids:
            return {}
        found = self._shard.retrieve([record_id(doc_id) for doc_id in set(doc_ids)], ["doc_id", "content_hash"], False)
        return {str(r.payload["doc_id"]): str(r.payload["content_hash"]) for r in found if r.payload}

    def put(self, records: list[DocumentRecord]) -> None:
        points = [Point(record_id(record.doc_id), {}, {"kind": "document", **asdict(record)}) for record in records]
        self._shard.update(UpdateOperation.upsert_points(points))

    def remove(self, doc_id: str) -> None:
        self._shard.update(UpdateOperation.delete_points([record_id(doc_id)]))

    def all(self) -> list[DocumentRecord]:
        only_documents = Filter(must=[equals("kind", "document")])
        records: list[DocumentRecord] = []
        offset: Any = None
        while True:
            page, offset = self._shard.scroll(
                ScrollRequest(offset=offset, limit=SCROLL_PAGE, filter=only_documents, with_payload=True)
            )
            records.extend(record_from_payload(dict(point.payload or {})) for point in page)
            if offset is None:
                return sorted(records, key=lambda record: record.doc_id)

    def index_version(self) -> int:
        if self._known_version is None:
            found = self._shard.retrieve([STATE_POINT], True, False)
            self._known_version = int(found[0].payload["index_version"]) if found and found[0].payload else 0
        return self._known_version

    def bump_version(self) -> int:
        """A new version, greater than the last one (a nanosecond clock, like the server backend's)."""
        version = max(time.time_ns(), self.index_version() + 1)
        state = {"kind": "state", "index_version": version}
        self._shard.update(UpdateOperation.upsert_points([Point(STATE_POINT, {}, state)]))
        self._known_version = version
        return version
