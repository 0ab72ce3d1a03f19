from litestar import delete, get, post
from litestar.datastructures import State

from tutorbook_retriever.ingestion import delete_document, ingest_documents
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
from tutorbook_service.errors import NotFoundError, ServiceError


@post("/v1/documents", status_code=200, sync_to_thread=True)
def ingest(data: IngestRequest, state: State) -> IngestResponse:
    services: RetrieverServices = state.services
    metrics = services.metrics
    try:
        with metrics.ingest_seconds.time():
            result = ingest_documents(data.documents, services.embedder, services.store, services.ingest_limits)
    except ServiceError as exc:
        metrics.ingest_failures.labels(reason=exc.code or "invalid").inc()
        raise
    for outcome in result.outcomes:
        metrics.documents_ingested.labels(status=outcome.status).inc()
    metrics.chunks_indexed.inc(result.chunks)
    services.index_changed(result.index_version)
    return IngestResponse(
        documents=len(result.outcomes),
        chunks=result.chunks,
        ids=[outcome.doc_id for outcome in result.outcomes],
        results=[DocumentResult(o.doc_id, o.status, o.chunks) for o in result.outcomes],
        index_version=result.index_version,
    )


@get("/v1/documents", sync_to_thread=True)
def list_documents(state: State, limit: int = 100, offset: int = 0) -> DocumentList:
    services: RetrieverServices = state.services
    records = services.store.registry.all()
    page = records[max(offset, 0) : max(offset, 0) + max(min(limit, 1000), 0)]
    return DocumentList(
        documents=[DocumentInfo(r.doc_id, r.title, r.content_hash, r.chunks, r.metadata, r.updated_at) for r in page],
        total=len(records),
        index_version=services.store.registry.index_version(),
    )


@get("/v1/documents/{doc_id:path}", sync_to_thread=True)
def get_document(doc_id: str, state: State) -> DocumentInfo:
    services: RetrieverServices = state.services
    record = services.store.registry.get(doc_id.lstrip("/"))
    if record is None:
        raise NotFoundError(f"document {doc_id.lstrip('/')!r} does not exist", param="id", code="document_not_found")
    return DocumentInfo(
        record.doc_id, record.title, record.content_hash, record.chunks, record.metadata, record.updated_at
    )


@delete("/v1/documents/{doc_id:path}", status_code=200, sync_to_thread=True)
def remove_document(doc_id: str, state: State) -> DeleteResponse:
    services: RetrieverServices = state.services
    version = delete_document(doc_id.lstrip("/"), services.store)
    services.index_changed(version)
    return DeleteResponse(deleted=doc_id.lstrip("/"), index_version=version)


@get("/v1/index-version", sync_to_thread=False)
def index_version(state: State) -> IndexVersion:
    """The version of the searchable content: it changes with every ingest or delete that changes anything.
    The gateway's response cache checks it on every hit, so it is answered on the event loop: a memory
    read in embedded mode, one point read from a Qdrant server otherwise."""
    services: RetrieverServices = state.services
    return IndexVersion(services.store.registry.index_version())
