from litestar import post
from litestar.datastructures import State

from tutorbook_common.errors import ServiceError
from tutorbook_retriever.ingestion import ingest_documents
from tutorbook_retriever.schemas import IngestRequest, IngestResponse
from tutorbook_retriever.services import RetrieverServices


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
    metrics.documents_ingested.inc(result.documents)
    metrics.chunks_indexed.inc(result.chunks)
    metrics.indexed_chunks.set(services.store.count())
    return IngestResponse(documents=result.documents, chunks=result.chunks, ids=result.ids)
