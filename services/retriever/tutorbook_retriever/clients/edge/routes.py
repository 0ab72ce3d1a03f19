"""Route examples on Qdrant Edge: each adapter's best example, one filtered query per adapter in one batch."""

from typing import Any

from qdrant_edge import (
    Distance,
    EdgeConfig,
    EdgeVectorParams,
    Filter,
    HasIdCondition,
    PayloadSchemaType,
    Point,
    Query,
    QueryBatchRequest,
    QueryRequest,
    ScrollRequest,
    UpdateOperation,
)

from tutorbook_retriever.clients.edge.shards import SEARCH_THREADS, EdgeShards, equals
from tutorbook_retriever.clients.route_index import SCROLL_PAGE, RouteMatch, example_id


def only(adapter: str) -> Filter:
    return Filter(must=[equals("adapter", adapter)])


class EdgeRouteIndex:
    def __init__(self, shards: EdgeShards, name: str) -> None:
        self._shards, self._name = shards, name
        self._shard: Any = None
        self._adapters: set[str] = set()  # this process is the shard's only writer

    def ensure(self, dimension: int) -> None:
        config = EdgeConfig(
            vectors=EdgeVectorParams(size=dimension, distance=Distance.Cosine), max_search_threads=SEARCH_THREADS
        )
        self._shard = self._shards.open(self._name, config, {"adapter": PayloadSchemaType.Keyword})
        self._adapters = set(self.counts())

    def replace(self, adapter: str, examples: list[str], vectors: list[list[float]]) -> None:
        points = [
            Point(example_id(adapter, example), vector, {"adapter": adapter, "example": example})
            for example, vector in zip(examples, vectors, strict=True)
        ]
        keep = {point.id for point in points}
        if points:
            self._shard.update(UpdateOperation.upsert_points(points))
        stale = Filter(must=only(adapter).must, must_not=[HasIdCondition(keep)] if keep else None)
        self._shard.update(UpdateOperation.delete_points_by_filter(stale))
        if points:
            self._adapters.add(adapter)
        else:
            self._adapters.discard(adapter)

    def remove(self, adapter: str) -> None:
        self._shard.update(UpdateOperation.delete_points_by_filter(only(adapter)))
        self._adapters.discard(adapter)

    def search(self, vector: list[float], limit: int) -> list[RouteMatch]:
        """The best-matching example of each adapter, best adapter first."""
        adapters = sorted(self._adapters)
        if not adapters:
            return []
        requests = [
            QueryRequest(limit=1, query=Query.Nearest(vector), filter=only(name), with_payload=True)
            for name in adapters
        ]
        matches = [
            RouteMatch(str(point.payload["adapter"]), round(float(point.score), 6), str(point.payload["example"]))
            for found in self._shard.query_batch(QueryBatchRequest(requests))
            for point in found
        ]
        return sorted(matches, key=lambda match: match.score, reverse=True)[:limit]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        offset: Any = None
        while True:
            page, offset = self._shard.scroll(ScrollRequest(offset=offset, limit=SCROLL_PAGE, with_payload=["adapter"]))
            for point in page:
                adapter = str((point.payload or {}).get("adapter"))
                counts[adapter] = counts.get(adapter, 0) + 1
            if offset is None:
                return dict(sorted(counts.items()))
