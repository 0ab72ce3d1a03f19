"""Answered questions on Qdrant Edge (the gateway's semantic cache), bounded like the server backend's."""

from typing import Any

from qdrant_edge import (
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeVectorParams,
    Filter,
    PayloadSchemaType,
    Point,
    Query,
    QueryRequest,
    UpdateOperation,
)

from tutorbook_retriever.clients.edge.shards import SEARCH_THREADS, EdgeShards, equals
from tutorbook_retriever.clients.question_index import TEAM_FIELD, SimilarQuestion, question_id


class EdgeQuestionIndex:
    """At most ``max_questions``: when full, those of earlier index versions go; still full, none is added."""

    def __init__(self, shards: EdgeShards, name: str, max_questions: int) -> None:
        self._shards, self._name, self._max_questions = shards, name, max_questions
        self._shard: Any = None

    def ensure(self, dimension: int) -> None:
        config = EdgeConfig(
            vectors=EdgeVectorParams(size=dimension, distance=Distance.Cosine), max_search_threads=SEARCH_THREADS
        )
        indexes = {"index_version": PayloadSchemaType.Integer, TEAM_FIELD: PayloadSchemaType.Keyword}
        self._shard = self._shards.open(self._name, config, indexes)

    def put(self, key: str, question: str, index_version: int, vector: list[float], team: str = "") -> bool:
        if self._shard.count(CountRequest(exact=True)) >= self._max_questions:
            stale = Filter(must_not=[equals("index_version", index_version)])
            self._shard.update(UpdateOperation.delete_points_by_filter(stale))
            if self._shard.count(CountRequest(exact=True)) >= self._max_questions:
                return False
        payload = {"key": key, "question": question, "index_version": index_version, TEAM_FIELD: team}
        self._shard.update(UpdateOperation.upsert_points([Point(question_id(key), vector, payload)]))
        return True

    def nearest(self, vector: list[float], index_version: int, team: str | None = None) -> SimilarQuestion | None:
        """The most similar question answered at this index version (older answers may be stale), for
        ``team`` when given."""
        conditions: list[Any] = [equals("index_version", index_version)]
        if team is not None:
            conditions.append(equals(TEAM_FIELD, team))
        request = QueryRequest(limit=1, query=Query.Nearest(vector), filter=Filter(must=conditions), with_payload=True)
        found = self._shard.query(request)
        if not found:
            return None
        payload: dict[str, Any] = dict(found[0].payload or {})
        return SimilarQuestion(str(payload["key"]), str(payload["question"]), round(float(found[0].score), 6))
