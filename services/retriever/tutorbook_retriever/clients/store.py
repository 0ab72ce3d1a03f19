"""The retriever's storage, seen by the domain: chunks, the document registry, route examples and
answered questions (the gateway's semantic cache)."""

import threading
from dataclasses import dataclass, field

from tutorbook_retriever.clients.chunk_index import ChunkIndex
from tutorbook_retriever.clients.document_registry import DocumentRegistry
from tutorbook_retriever.clients.question_index import QuestionIndex
from tutorbook_retriever.clients.route_index import RouteIndex


@dataclass
class Store:
    chunks: ChunkIndex
    registry: DocumentRegistry
    routes: RouteIndex
    questions: QuestionIndex
    # Serialises changes in this process, so two requests never interleave writes to one document.
    write_lock: threading.Lock = field(default_factory=threading.Lock)

    def ensure(self, dimension: int) -> None:
        self.chunks.ensure(dimension)
        self.registry.ensure()
        self.routes.ensure(dimension)
        self.questions.ensure(dimension)
