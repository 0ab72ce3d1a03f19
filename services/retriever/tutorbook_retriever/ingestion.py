"""Ingestion: validate a batch, skip unchanged documents, chunk and embed the rest, switch each atomically.

A document's new chunks are written first, then its registry record (the switch), then its old chunks are
deleted. Search only returns chunks whose content hash is the registered one, so it sees a document's old
chunks or its new ones, never a mix, and a crash between steps leaves only unreachable leftovers.

Only changed text is embedded: a new version's chunk whose embedded text (heading path and text) is the
same as one of the document's stored chunks keeps that chunk's vector, and a text repeated within a batch
is embedded once. A weekly edit of a large set costs the edited chunks, not the edited pages.
"""

import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Literal

from tutorbook_retriever import lexical
from tutorbook_retriever.access import ACCESS_FIELD, check_may_change, default_access, may_see, validate_access
from tutorbook_retriever.chunking import Chunk, chunk_document
from tutorbook_retriever.clients.chunk_index import ChunkPoint
from tutorbook_retriever.clients.document_registry import DocumentRecord
from tutorbook_retriever.clients.embedder import Embedder
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.schemas import DocumentIn
from tutorbook_retriever.vectors import Vectors, embedding_text, stored_vectors, vectorize
from tutorbook_service.errors import BadRequestError, NotFoundError, PayloadTooLargeError

IngestStatus = Literal["created", "updated", "unchanged"]

DOC_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}")
POINT_NAMESPACE = uuid.UUID("5b0c3e4a-2f7d-4c55-9a57-8f3f0e1d2c11")
SCALAR_TYPES = (str, int, float, bool)
MAX_TITLE_CHARS = 500
MAX_METADATA_BYTES = 8192
WRITE_BATCH = 256


@dataclass(frozen=True)
class IngestLimits:
    max_documents: int
    max_document_chars: int
    chunk_max_tokens: int
    chunk_overlap_tokens: int


@dataclass(frozen=True)
class DocumentOutcome:
    doc_id: str
    status: IngestStatus
    chunks: int
    embedded: int = 0  # of those chunks, how many were embedded (the others kept a stored vector)


@dataclass(frozen=True)
class IngestResult:
    outcomes: list[DocumentOutcome]
    index_version: int

    @property
    def chunks(self) -> int:
        return sum(outcome.chunks for outcome in self.outcomes if outcome.status != "unchanged")

    @property
    def embedded(self) -> int:
        return sum(outcome.embedded for outcome in self.outcomes)


def validate_document(document: DocumentIn, where: str, limits: IngestLimits) -> None:
    if not DOC_ID_PATTERN.fullmatch(document.id):
        raise BadRequestError(
            f"{where}.id must be 1-200 characters of letters, digits and ._:/@- starting with a letter or digit",
            param=f"{where}.id",
        )
    if not document.text.strip():
        raise BadRequestError(f"{where}.text is empty", param=f"{where}.text")
    if len(document.text) > limits.max_document_chars:
        raise PayloadTooLargeError(
            f"{where}.text has {len(document.text)} characters; the limit is {limits.max_document_chars}",
            param=f"{where}.text",
        )
    if len(document.title) > MAX_TITLE_CHARS:
        raise BadRequestError(f"{where}.title is longer than {MAX_TITLE_CHARS} characters", param=f"{where}.title")
    for key, value in document.metadata.items():
        if not isinstance(value, SCALAR_TYPES) and value is not None:
            raise BadRequestError(
                f"{where}.metadata.{key} must be a string, number, boolean or null", param=f"{where}.metadata"
            )
    if len(json.dumps(document.metadata)) > MAX_METADATA_BYTES:
        raise BadRequestError(f"{where}.metadata is larger than {MAX_METADATA_BYTES} bytes", param=f"{where}.metadata")
    validate_access(document.access, f"{where}.access")


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
        validate_document(document, f"documents[{index}]", limits)
        if document.id in seen:
            raise BadRequestError(
                f"documents[{index}].id {document.id!r} appears twice in this request", param=f"documents[{index}].id"
            )
        seen.add(document.id)


def content_hash(document: DocumentIn) -> str:
    """What a document is, besides its id: a change to any part is a new version (re-chunked, switched,
    old chunks deleted). The sorted access list is a part unless it is the default (public), so a public
    document keeps the hash it had before access lists existed and upgrading re-embeds nothing."""
    parts = [document.title, document.text, json.dumps(document.metadata, sort_keys=True)]
    if sorted(document.access) != default_access():
        parts.append(json.dumps(sorted(document.access)))
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def build_points(
    document: DocumentIn,
    digest: str,
    chunks: list[Chunk],
    vectors: list[list[float]],
    sparse: list[lexical.SparseVector],
) -> list[ChunkPoint]:
    title = document.title or document.id
    points = []
    for index, (chunk, vector, lexical_vector) in enumerate(zip(chunks, vectors, sparse, strict=True)):
        chunk_id = f"{document.id}#{index}"
        points.append(
            ChunkPoint(
                point_id=str(uuid.uuid5(POINT_NAMESPACE, f"{chunk_id}#{digest}")),
                dense=vector,
                lexical=lexical_vector,
                payload={
                    "doc_id": document.id,
                    "chunk_id": chunk_id,
                    "chunk_index": index,
                    "title": title,
                    "section": chunk.section,
                    "text": chunk.text,
                    "metadata": dict(document.metadata),
                    "content_hash": digest,
                    ACCESS_FIELD: sorted(document.access),
                },
            )
        )
    return points


def document_record(document: DocumentIn, digest: str, chunks: int, now: float) -> DocumentRecord:
    return DocumentRecord(
        doc_id=document.id,
        title=document.title or document.id,
        content_hash=digest,
        chunks=chunks,
        metadata=dict(document.metadata),
        updated_at=now,
        access=sorted(document.access),
    )


def chunk_and_vectorize(
    changed: list[DocumentIn],
    registered: dict[str, DocumentRecord | None],
    embedder: Embedder,
    store: Store,
    limits: IngestLimits,
) -> tuple[dict[str, list[Chunk]], Vectors]:
    """Each changed document's chunks, and their vectors (in that order), reusing the vectors of text that a
    document's stored version already embedded."""
    chunked = {
        document.id: chunk_document(document.text, limits.chunk_max_tokens, limits.chunk_overlap_tokens)
        for document in changed
    }
    texts = [embedding_text(d.title or d.id, chunk) for d in changed for chunk in chunked[d.id]]
    wanted, known = set(texts), dict[str, list[float]]()
    for document in changed:
        if registered[document.id] is not None:
            known.update(stored_vectors(document.id, store, wanted))
    return chunked, vectorize(texts, embedder, known)


def write_changed(
    changed: list[DocumentIn],
    digests: dict[str, str],
    chunked: dict[str, list[Chunk]],
    vectors: Vectors,
    store: Store,
) -> list[int]:
    """Writes the changed documents' chunks (not yet found by search); returns how many each embedded."""
    points, embedded, start = [], [], 0
    for document in changed:
        end = start + len(chunked[document.id])
        points += build_points(
            document, digests[document.id], chunked[document.id], vectors.dense[start:end], vectors.sparse[start:end]
        )
        embedded.append(sum(vectors.embedded[start:end]))
        start = end
    for start in range(0, len(points), WRITE_BATCH):
        store.chunks.write(points[start : start + WRITE_BATCH])
    return embedded


def ingest_documents(
    documents: list[DocumentIn], embedder: Embedder, store: Store, limits: IngestLimits, team: str | None = None
) -> IngestResult:
    """Writes what changed. With ``team`` (a team's key, through the gateway), a batch that would replace a
    document whose access list does not name that team is refused whole (403) before anything is written."""
    validate_documents(documents, limits)
    with store.write_lock:
        registered = {document.id: store.registry.get(document.id) for document in documents}
        for index, (doc_id, record) in enumerate(registered.items()):
            if record is not None:
                check_may_change(doc_id, record.access, team, f"documents[{index}].id")
        digests = {document.id: content_hash(document) for document in documents}
        changed = [
            document
            for document in documents
            if (record := registered[document.id]) is None or record.content_hash != digests[document.id]
        ]
        chunked, vectors = chunk_and_vectorize(changed, registered, embedder, store, limits)
        embedded = dict(
            zip([d.id for d in changed], write_changed(changed, digests, chunked, vectors, store), strict=True)
        )
        now = time.time()
        records = [document_record(d, digests[d.id], len(chunked[d.id]), now) for d in changed]
        if records:
            store.registry.put(records)  # the switch, one point per document
        for document in changed:
            if registered[document.id] is not None:  # a new document has no old chunks to remove
                store.chunks.delete_stale(document.id, digests[document.id])
        version = store.registry.bump_version() if changed else store.registry.index_version()
    outcomes = []
    for document in documents:
        record = registered[document.id]
        if document.id in embedded:
            status: IngestStatus = "created" if record is None else "updated"
            outcomes.append(DocumentOutcome(document.id, status, len(chunked[document.id]), embedded[document.id]))
        else:
            outcomes.append(DocumentOutcome(document.id, "unchanged", record.chunks if record else 0))
    return IngestResult(outcomes, version)


def document_not_found(doc_id: str) -> NotFoundError:
    """The same answer for a document that does not exist and one the caller may not see: a team cannot
    learn which ids another team holds."""
    return NotFoundError(f"document {doc_id!r} does not exist", param="id", code="document_not_found")


def visible_record(doc_id: str, store: Store, visible_to: list[str] | None) -> DocumentRecord:
    """The registered document ``doc_id`` if ``visible_to`` may see it, else a 404."""
    record = store.registry.get(doc_id)
    if record is None or not may_see(record.access, visible_to):
        raise document_not_found(doc_id)
    return record


def delete_document(doc_id: str, store: Store, visible_to: list[str] | None = None, team: str | None = None) -> int:
    """Remove a document (registry first, so searches stop seeing it at once); returns the new index version.
    A document ``visible_to`` may not see is not found (one team cannot delete another's); one it sees but
    whose access list does not name ``team`` (a public one) is a 403."""
    with store.write_lock:
        record = visible_record(doc_id, store, visible_to)
        check_may_change(doc_id, record.access, team, "id")
        store.registry.remove(doc_id)
        store.chunks.delete_document(doc_id)
        return store.registry.bump_version()


def replace_route_examples(adapter: str, examples: list[str], embedder: Embedder, store: Store) -> int:
    if not DOC_ID_PATTERN.fullmatch(adapter):
        raise BadRequestError("adapter name must be 1-200 characters of letters, digits and ._:/@-", param="adapter")
    cleaned = list(dict.fromkeys(example.strip() for example in examples if example.strip()))
    if len(cleaned) > 1000:
        raise PayloadTooLargeError("at most 1000 route examples per adapter", param="examples")
    if any(len(example) > 1000 for example in cleaned):
        raise BadRequestError("a route example is longer than 1000 characters", param="examples")
    vectors = embedder.embed(cleaned) if cleaned else []
    with store.write_lock:
        store.routes.replace(adapter, cleaned, vectors)
    return len(cleaned)
