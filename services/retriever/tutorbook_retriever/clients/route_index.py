"""Route examples: utterances that adapters declare, so the router can match a request to an adapter."""

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from qdrant_client import models

from tutorbook_retriever.clients.qdrant import QdrantCollection, cosine_vectors

NAMESPACE = uuid.UUID("7b2e9d14-35c8-4f0a-bd61-0c9a8e4f2d73")
SCROLL_PAGE = 1000


@dataclass(frozen=True)
class RouteMatch:
    adapter: str
    score: float
    example: str


class RouteIndex(Protocol):
    def ensure(self, dimension: int) -> None: ...

    def replace(self, adapter: str, examples: list[str], vectors: list[list[float]]) -> None: ...

    def remove(self, adapter: str) -> None: ...

    def search(self, vector: list[float], limit: int) -> list[RouteMatch]: ...

    def counts(self) -> dict[str, int]: ...


def example_id(adapter: str, example: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{adapter}\0{example}"))


def adapter_filter(adapter: str) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key="adapter", match=models.MatchValue(value=adapter))])


class QdrantRouteIndex(QdrantCollection):
    def ensure(self, dimension: int) -> None:
        self._create_if_missing(cosine_vectors(dimension), indexes={"adapter": models.PayloadSchemaType.KEYWORD})

    def replace(self, adapter: str, examples: list[str], vectors: list[list[float]]) -> None:
        points = [
            models.PointStruct(
                id=example_id(adapter, example),
                vector=vector,
                payload={"adapter": adapter, "example": example},
            )
            for example, vector in zip(examples, vectors, strict=True)
        ]
        keep: list[int | str | uuid.UUID] = [point.id for point in points]
        stale = models.Filter(
            must=adapter_filter(adapter).must, must_not=[models.HasIdCondition(has_id=keep)] if keep else []
        )
        with self._qdrant.guard():
            if points:
                self._client.upsert(self._collection, points=points, wait=True)
            self._client.delete(self._collection, points_selector=models.FilterSelector(filter=stale), wait=True)

    def remove(self, adapter: str) -> None:
        with self._qdrant.guard():
            self._client.delete(
                self._collection, points_selector=models.FilterSelector(filter=adapter_filter(adapter)), wait=True
            )

    def search(self, vector: list[float], limit: int) -> list[RouteMatch]:
        """The best-matching example of each adapter (one group per adapter), best adapter first."""
        with self._qdrant.guard():
            response = self._client.query_points_groups(
                self._collection, query=vector, group_by="adapter", limit=limit, group_size=1, with_payload=True
            )
        matches = []
        for group in response.groups:
            [point] = group.hits
            payload: dict[str, Any] = dict(point.payload or {})
            matches.append(RouteMatch(str(payload["adapter"]), round(float(point.score), 6), str(payload["example"])))
        return sorted(matches, key=lambda match: match.score, reverse=True)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        offset: Any = None
        while True:
            with self._qdrant.guard():
                page, offset = self._client.scroll(
                    self._collection, limit=SCROLL_PAGE, offset=offset, with_payload=["adapter"]
                )
            for point in page:
                adapter = str((point.payload or {}).get("adapter"))
                counts[adapter] = counts.get(adapter, 0) + 1
            if offset is None:
                return dict(sorted(counts.items()))
