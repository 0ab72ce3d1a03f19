"""Unit fixtures: the gateway app on in-process fakes of the retriever and generator."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.unit.fakes import RETURNS, WARRANTY, FakeGenerator, FakeRetriever
from tutorbook_config.service_settings import configured
from tutorbook_gateway.app import create_app
from tutorbook_gateway.settings import GatewaySettings
from tutorbook_retriever.clients.edge.shards import EdgeShards
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.wiring import edge_store

STORE_DIMENSION = 3  # of retriever_store's vectors


@pytest.fixture
def upstream() -> tuple[FakeRetriever, FakeGenerator]:
    return FakeRetriever([WARRANTY, RETURNS]), FakeGenerator()


@pytest.fixture
def client(upstream: tuple[FakeRetriever, FakeGenerator], tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    with gateway_on(upstream, tmp_path) as test_client:
        yield test_client


@contextmanager
def gateway_on(
    upstream: tuple[FakeRetriever, FakeGenerator], data_dir: Path, **settings: Any
) -> Iterator[TestClient[Litestar]]:
    """The gateway on the fakes, with the unit tests' keys and any other ``settings``."""
    settings_given = configured(
        GatewaySettings,
        keys__api_keys="user-key-for-tests-0001",
        keys__admin_keys="admin-key-for-tests-0001",
        shared__base_model_name="base",
        router__rag_min_score=0.5,
        shared__data_dir=data_dir,
        **settings,
    )
    retriever, generator = upstream
    with TestClient(create_app(settings_given, retriever=retriever, generator=generator)) as test_client:
        yield test_client


@pytest.fixture
def retriever_store(tmp_path: Path) -> Iterator[Store]:
    """The retriever's embedded store (Qdrant Edge, in-process, in a temporary folder) for vectors of
    ``STORE_DIMENSION``."""
    shards = EdgeShards(tmp_path / "shards")
    store = edge_store(shards, "test", max_answered_questions=10)
    store.ensure(STORE_DIMENSION)
    yield store
    shards.close()
