"""Answered questions, for the gateway's optional semantic cache: a question asked again in other words
finds the cache key of the earlier answer, at the index version that answer was computed at, and only
for the team it was answered for (another team may see other documents, so its answer may differ)."""

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from qdrant_client import models

from tutorbook_retriever.clients.qdrant import QdrantCollection, QdrantHandle, cosine_vectors

NAMESPACE = uuid.UUID("8d0f6a57-3c1e-4f55-b1a8-1f5e7c2b9e44")
TEAM_FIELD = "team"


@dataclass(frozen=True)
class SimilarQuestion:
    key: str
    question: str
    score: float


class QuestionIndex(Protocol):
    def ensure(self, dimension: int) -> None: ...

    def put(self, key: str, question: str, index_version: int, vector: list[float], team: str = "") -> bool: ...

    def nearest(self, vector: list[float], index_version: int, team: str | None = None) -> SimilarQuestion | None:
        """The most similar question answered at ``index_version`` for ``team`` (None: for any team)."""
        ...


def question_id(key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, key))


def at_version(index_version: int) -> models.FieldCondition:
    return models.FieldCondition(key="index_version", match=models.MatchValue(value=index_version))


def servable(index_version: int, team: str | None) -> models.Filter:
    """Questions answered at ``index_version`` for ``team`` (None: for any team)."""
    conditions: list[models.Condition] = [at_version(index_version)]
    if team is not None:
        conditions.append(models.FieldCondition(key=TEAM_FIELD, match=models.MatchValue(value=team)))
    return models.Filter(must=conditions)


class QdrantQuestionIndex(QdrantCollection):
    """At most ``max_questions`` questions: when full, those answered at earlier index versions (never
    served again) are deleted, and while it is still full no question is added."""

    def __init__(self, qdrant: QdrantHandle, collection: str, max_questions: int) -> None:
        super().__init__(qdrant, collection)
        self._max_questions = max_questions

    def ensure(self, dimension: int) -> None:
        indexes = {"index_version": models.PayloadSchemaType.INTEGER, TEAM_FIELD: models.PayloadSchemaType.KEYWORD}
        self._create_if_missing(cosine_vectors(dimension), indexes=indexes)

    def put(self, key: str, question: str, index_version: int, vector: list[float], team: str = "") -> bool:
        """Whether the question was kept (False: the index is full of questions at this version)."""
        payload = {"key": key, "question": question, "index_version": index_version, TEAM_FIELD: team}
        point = models.PointStruct(id=question_id(key), vector=vector, payload=payload)
        with self._qdrant.guard():
            if self._client.count(self._collection, exact=True).count >= self._max_questions:
                stale = models.Filter(must_not=[at_version(index_version)])
                self._client.delete(self._collection, points_selector=models.FilterSelector(filter=stale), wait=True)
                if self._client.count(self._collection, exact=True).count >= self._max_questions:
                    return False
            self._client.upsert(self._collection, points=[point], wait=True)
        return True

    def nearest(self, vector: list[float], index_version: int, team: str | None = None) -> SimilarQuestion | None:
        """The most similar question answered at this index version (older answers may be stale), for
        ``team`` when given."""
        with self._qdrant.guard():
            found = self._client.query_points(
                self._collection, query=vector, query_filter=servable(index_version, team), limit=1, with_payload=True
            ).points
        if not found:
            return None
        payload: dict[str, Any] = dict(found[0].payload or {})
        return SimilarQuestion(str(payload["key"]), str(payload["question"]), round(float(found[0].score), 6))
