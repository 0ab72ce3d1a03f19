"""Wire types of the retriever's HTTP API."""

from typing import Any, Literal

import msgspec

from tutorbook_retriever.access import default_access

SearchMode = Literal["hybrid", "dense", "lexical"]
Scalar = str | int | float | bool


class DocumentIn(msgspec.Struct):
    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    # Who may see it: "public" and team names (see tutorbook_retriever.access).
    access: list[str] = msgspec.field(default_factory=default_access)


class IngestRequest(msgspec.Struct):
    documents: list[DocumentIn]


class DocumentResult(msgspec.Struct):
    id: str
    status: Literal["created", "updated", "unchanged"]
    chunks: int
    embedded: int = 0  # of its chunks, those embedded now; the others kept the vector of unchanged text


class IngestResponse(msgspec.Struct):
    documents: int
    chunks: int  # written: of created and updated documents
    embedded: int  # of those, embedded now (the others' text was unchanged)
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
    access: list[str]  # empty: ingested before access lists, seen by every team


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
    # Only chunks of documents whose access list names one of these (or that have none); None: every chunk.
    visible_to: list[str] | None = None
    # The similar question must have been answered for this team; None: any team's.
    team: str | None = None


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
    team: str = ""  # whose answer it is: only this team's searches find it ("": no team)


class RouteExamplesRequest(msgspec.Struct):
    examples: list[str]


class RouteExamplesResponse(msgspec.Struct):
    adapter: str
    examples: int


class RouteExampleCounts(msgspec.Struct):
    adapters: dict[str, int]


class IndexVersion(msgspec.Struct):
    index_version: int
