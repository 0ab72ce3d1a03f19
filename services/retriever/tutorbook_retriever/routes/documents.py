from litestar import delete, get, post
from litestar.datastructures import State

from tutorbook_retriever.access import may_see, parse_visible_to, validate_team
from tutorbook_retriever.clients.document_registry import DocumentRecord
from tutorbook_retriever.ingestion import delete_document, ingest_documents, visible_record
from tutorbook_retriever.schemas import (
    DeleteResponse,
    DocumentInfo,
    DocumentList,
    DocumentResult,
    IndexVersion,
    IngestRequest,
    IngestResponse,
)
from tutorbook_retriever.services import RetrieverServices
from tutorbook_service.errors import ServiceError


@post("/v1/documents", status_code=200, sync_to_thread=True)
def ingest(data: IngestRequest, state: State, team: str | None = None) -> IngestResponse:
    """``team`` (the gateway adds it for a team's key): documents whose access list does not name it are
    not replaced (403)."""
    services: RetrieverServices = state.services
    metrics = services.metrics
    try:
        validate_team(team)
        with metrics.ingest_seconds.time():
            limits = services.ingest_limits
            result = ingest_documents(data.documents, services.embedder, services.store, limits, team or None)
    except ServiceError as exc:
        metrics.ingest_failures.labels(reason=exc.code or "invalid").inc()
        raise
    for outcome in result.outcomes:
        metrics.documents_ingested.labels(status=outcome.status).inc()
    metrics.chunks_indexed.inc(result.chunks)
    metrics.chunks_embedded.inc(result.embedded)
    services.acknowledge_change(result.index_version)
    return IngestResponse(
        documents=len(result.outcomes),
        chunks=result.chunks,
        embedded=result.embedded,
        ids=[outcome.doc_id for outcome in result.outcomes],
        results=[DocumentResult(o.doc_id, o.status, o.chunks, o.embedded) for o in result.outcomes],
        index_version=result.index_version,
    )


def document_info(record: DocumentRecord) -> DocumentInfo:
    return DocumentInfo(
        id=record.doc_id,
        title=record.title,
        content_hash=record.content_hash,
        chunks=record.chunks,
        metadata=record.metadata,
        updated_at=record.updated_at,
        access=record.access,
    )


@get("/v1/documents", sync_to_thread=True)
def list_documents(state: State, limit: int = 100, offset: int = 0, visible_to: str | None = None) -> DocumentList:
    """``visible_to`` (comma-separated teams and ``public``): only the documents those may see."""
    services: RetrieverServices = state.services
    teams = parse_visible_to(visible_to)
    records = [record for record in services.store.registry.all() if may_see(record.access, teams)]
    page = records[max(offset, 0) : max(offset, 0) + max(min(limit, 1000), 0)]
    return DocumentList(
        documents=[document_info(record) for record in page],
        total=len(records),
        index_version=services.store.registry.index_version(),
    )


@get("/v1/documents/{doc_id:path}", sync_to_thread=True)
def get_document(doc_id: str, state: State, visible_to: str | None = None) -> DocumentInfo:
    """404 for a document ``visible_to`` may not see, as for one that does not exist."""
    services: RetrieverServices = state.services
    return document_info(visible_record(doc_id.lstrip("/"), services.store, parse_visible_to(visible_to)))


@delete("/v1/documents/{doc_id:path}", status_code=200, sync_to_thread=True)
def remove_document(
    doc_id: str, state: State, visible_to: str | None = None, team: str | None = None
) -> DeleteResponse:
    """404 for a document ``visible_to`` may not see: one team cannot delete another's; 403 for one it sees
    whose access list does not name ``team`` (a public document is an admin's)."""
    services: RetrieverServices = state.services
    validate_team(team)
    version = delete_document(doc_id.lstrip("/"), services.store, parse_visible_to(visible_to), team or None)
    services.acknowledge_change(version)
    return DeleteResponse(deleted=doc_id.lstrip("/"), index_version=version)


@get("/v1/index-version", sync_to_thread=False)
def index_version(state: State) -> IndexVersion:
    """The version of the searchable content: it changes with every ingest or delete that changes anything.
    The gateway's response cache checks it on every hit, so it is answered on the event loop: a memory
    read in embedded mode, one point read from a Qdrant server otherwise."""
    services: RetrieverServices = state.services
    return IndexVersion(services.store.registry.index_version())
