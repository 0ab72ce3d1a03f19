"""Wire types of the retriever's HTTP API."""

from typing import Any, Literal

import msgspec

SearchMode = Literal["hybrid", "dense", "lexical"]
Scalar = str | int | float | bool


class DocumentIn(msgspec.Struct):
    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class IngestRequest(msgspec.Struct):
    documents: list[DocumentIn]


class DocumentResult(msgspec.Struct):
    id: str
    status: Literal["created", "updated", "unchanged"]
    chunks: int


class IngestResponse(msgspec.Struct):
    documents: int
    chunks: int
    ids: list[str]
    results: list[DocumentResult]
    index_version: int


class DocumentInfo(msgspec.Struct):
    id: str
    title: str
    content_hash: str
    chunks: int
    metadata: dict[str, Any]
    updated_at: float


class DocumentList(msgspec.Struct):
    documents: list[DocumentInfo]
    total: int
    index_version: int


class DeleteResponse(msgspec.Struct):
    deleted: str
    index_version: int


class EmbedRequest(msgspec.Struct):
    texts: list[str]


class EmbedResponse(msgspec.Struct):
    embedder: str
    dimension: int
    vectors: list[list[float]]


class SimilaritiesRequest(msgspec.Struct):
    texts: list[str]
    candidates: list[str]


class SimilaritiesResponse(msgspec.Struct):
    embedder: str
    scores: list[list[float]]  # scores[i][j]: the cosine of texts[i] and candidates[j]


class SearchRequest(msgspec.Struct):
    query: str
    top_k: int = 5
    mode: SearchMode = "hybrid"
    # metadata key -> accepted value, or list of accepted values
    filters: dict[str, Scalar | list[Scalar]] = msgspec.field(default_factory=dict)
    # Lowest dense (cosine) similarity a hit may have.
    score_threshold: float | None = None
    # Also match the query against the adapters' route examples.
    include_routes: bool = False
    # Also find the most similar question already answered at the current index version (semantic cache).
    similar_questions: bool = False


class SearchHit(msgspec.Struct):
    doc_id: str
    chunk_id: str
    title: str
    section: str
    text: str
    score: float  # what the hits are ranked by: fused (hybrid), cosine (dense) or BM25 (lexical)
    dense_score: float | None = None
    lexical_score: float | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class RouteHit(msgspec.Struct):
    adapter: str
    score: float
    example: str


class SimilarQuestionHit(msgspec.Struct):
    key: str
    question: str
    score: float


class SearchResponse(msgspec.Struct):
    hits: list[SearchHit]
    routes: list[RouteHit]
    index_version: int
    similar: SimilarQuestionHit | None = None


class AnsweredQuestion(msgspec.Struct, forbid_unknown_fields=True):
    key: str
    question: str
    index_version: int


class RouteExamplesRequest(msgspec.Struct):
    examples: list[str]


class RouteExamplesResponse(msgspec.Struct):
    adapter: str
    examples: int


class RouteExampleCounts(msgspec.Struct):
    adapters: dict[str, int]


class IndexVersion(msgspec.Struct):
    index_version: int
