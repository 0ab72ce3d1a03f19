"""Wire types of the retriever's HTTP API."""

from typing import Any

import msgspec


class DocumentIn(msgspec.Struct):
    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class IngestRequest(msgspec.Struct):
    documents: list[DocumentIn]


class IngestResponse(msgspec.Struct):
    documents: int
    chunks: int
    ids: list[str]


class SearchRequest(msgspec.Struct):
    query: str
    top_k: int = 5


class SearchHit(msgspec.Struct):
    doc_id: str
    chunk_id: str
    title: str
    section: str
    text: str
    score: float
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class SearchResponse(msgspec.Struct):
    hits: list[SearchHit]
