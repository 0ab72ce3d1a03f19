"""Ingestion: validate a batch of documents, chunk them, embed the chunks, replace each document's chunks."""

import hashlib
import re
import uuid
from dataclasses import dataclass

from tutorbook_common.errors import BadRequestError, PayloadTooLargeError
from tutorbook_retriever.chunking import Chunk, chunk_document
from tutorbook_retriever.clients.embedder import Embedder
from tutorbook_retriever.clients.vector_store import StoredChunk, VectorStore
from tutorbook_retriever.schemas import DocumentIn

DOC_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$")
POINT_NAMESPACE = uuid.UUID("5b0c3e4a-2f7d-4c55-9a57-8f3f0e1d2c11")
SCALAR_TYPES = (str, int, float, bool)


@dataclass(frozen=True)
class IngestLimits:
    max_documents: int
    max_document_chars: int
    chunk_max_chars: int


@dataclass(frozen=True)
class IngestResult:
    documents: int
    chunks: int
    ids: list[str]


def validate_documents(documents: list[DocumentIn], limits: IngestLimits) -> None:
    """Refuse the whole batch, before anything is written, if any document is malformed or too large."""
    if not documents:
        raise BadRequestError("documents must hold at least one document", param="documents")
    if len(documents) > limits.max_documents:
        raise PayloadTooLargeError(
            f"{len(documents)} documents in one request; the limit is {limits.max_documents}", param="documents"
        )
    seen: set[str] = set()
    for index, document in enumerate(documents):
        where = f"documents[{index}]"
        if not DOC_ID_PATTERN.match(document.id):
            raise BadRequestError(
                f"{where}.id must be 1-200 characters of letters, digits and ._:/@- starting with a letter or digit",
                param=f"{where}.id",
            )
        if document.id in seen:
            raise BadRequestError(f"{where}.id {document.id!r} appears twice in this request", param=f"{where}.id")
        seen.add(document.id)
        if not document.text.strip():
            raise BadRequestError(f"{where}.text is empty", param=f"{where}.text")
        if len(document.text) > limits.max_document_chars:
            raise PayloadTooLargeError(
                f"{where}.text has {len(document.text)} characters; the limit is {limits.max_document_chars}",
                param=f"{where}.text",
            )
        for key, value in document.metadata.items():
            if not isinstance(value, SCALAR_TYPES) and value is not None:
                raise BadRequestError(
                    f"{where}.metadata.{key} must be a string, number, boolean or null", param=f"{where}.metadata"
                )


def content_hash(document: DocumentIn) -> str:
    digest = hashlib.sha256()
    for part in (document.title, document.text, repr(sorted(document.metadata.items()))):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def embedding_text(title: str, chunk: Chunk) -> str:
    """What is embedded: the title and section give a chunk the context its text alone may lack."""
    heading = " > ".join(part for part in (title, chunk.section) if part)
    return f"{heading}\n{chunk.text}" if heading else chunk.text


def build_stored_chunks(document: DocumentIn, chunks: list[Chunk], vectors: list[list[float]]) -> list[StoredChunk]:
    title = document.title or document.id
    digest = content_hash(document)
    stored = []
    for index, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True)):
        chunk_id = f"{document.id}#{index}"
        stored.append(
            StoredChunk(
                point_id=str(uuid.uuid5(POINT_NAMESPACE, f"{chunk_id}#{digest}")),
                vector=vector,
                payload={
                    "doc_id": document.id,
                    "chunk_id": chunk_id,
                    "chunk_index": index,
                    "title": title,
                    "section": chunk.section,
                    "text": chunk.text,
                    "metadata": dict(document.metadata),
                    "content_hash": digest,
                },
            )
        )
    return stored


def ingest_documents(
    documents: list[DocumentIn], embedder: Embedder, store: VectorStore, limits: IngestLimits
) -> IngestResult:
    validate_documents(documents, limits)
    total_chunks = 0
    for document in documents:
        chunks = chunk_document(document.text, limits.chunk_max_chars)
        title = document.title or document.id
        vectors = embedder.embed([embedding_text(title, chunk) for chunk in chunks])
        store.replace_document(document.id, build_stored_chunks(document, chunks, vectors))
        total_chunks += len(chunks)
    return IngestResult(documents=len(documents), chunks=total_chunks, ids=[document.id for document in documents])
