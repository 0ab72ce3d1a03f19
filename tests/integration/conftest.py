"""Integration fixtures: the real embedder (loaded once), the retriever on real Qdrant, and both gateway
state backends (memory, and a real redis-server on a free port)."""

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import INTERNAL_TOKEN, RedisServer, free_port, internal_client
from tests.integration.redis_cluster import RedisCluster
from tutorbook_config.service_settings import configured
from tutorbook_gateway.state.backend import StateBackend
from tutorbook_gateway.state.memory import MemoryBackend
from tutorbook_gateway.state.redis_backend import RedisBackend
from tutorbook_retriever.app import create_app
from tutorbook_retriever.clients.embedder import SentenceTransformerEmbedder, default_embedding_model_path
from tutorbook_retriever.settings import RetrieverSettings

QDRANT_BACKENDS = ["edge", "server"]


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(default_embedding_model_path())


@pytest.fixture(params=QDRANT_BACKENDS)
def retriever_settings(request: pytest.FixtureRequest, tmp_path: Path) -> RetrieverSettings:
    """Qdrant Edge (the embedded default) always; a Qdrant server too when
    TUTORBOOK_RETRIEVER_STORE__QDRANT_URL is set."""
    if request.param == "server":
        url = os.environ.get("TUTORBOOK_RETRIEVER_STORE__QDRANT_URL", "")
        if not url:
            pytest.skip("TUTORBOOK_RETRIEVER_STORE__QDRANT_URL is not set: no Qdrant server to test against")
        return configured(
            RetrieverSettings,
            shared__data_dir=tmp_path,
            store__qdrant_url=url,
            store__collection_prefix=f"test_{uuid.uuid4().hex}",
            shared__internal_token=INTERNAL_TOKEN,
        )
    return configured(
        RetrieverSettings,
        shared__data_dir=tmp_path,
        ingest__max_document_chars=20_000,
        shared__internal_token=INTERNAL_TOKEN,
    )


@pytest.fixture
def retriever(
    retriever_settings: RetrieverSettings, embedder: SentenceTransformerEmbedder
) -> Iterator[TestClient[Litestar]]:
    with internal_client(create_app(retriever_settings, embedder=embedder)) as client:
        yield client


STATE_BACKENDS = ["memory", "redis", "redis-cluster"]
CONTRACT_TIMEOUT_SECONDS = 5.0


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest_asyncio.fixture(params=STATE_BACKENDS, loop_scope="function")
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[StateBackend]:
    """The in-memory store; a real redis-server of the test's own; a real three-master Redis Cluster
    (shared by the session, emptied for each test)."""
    if request.param == "memory":
        yield MemoryBackend()
        return
    server: RedisServer | None = None
    if request.param == "redis-cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
        target = cluster.target
    else:
        server = RedisServer(free_port())
        server.start()
        target = server.target
    # The contract tests check what the store does, not how fast: a generous timeout, so a busy machine
    # (the e2e tier runs beside this one) does not read as a Redis outage.
    redis = RedisBackend(target, timeout_seconds=CONTRACT_TIMEOUT_SECONDS)
    try:
        yield redis
    finally:
        await redis.close()
        if server is not None:
            server.stop()
