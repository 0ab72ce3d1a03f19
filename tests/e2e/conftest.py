"""The whole stack as real processes: redis-server, vLLM (generator), retriever and gateway."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, SAMPLES, free_port
from tutorbook_devstack.stack import Stack, StackConfig, ingest_folder, running_stack

API_KEY = "e2e-user-key-for-tests-0001"
ADMIN_KEY = "e2e-admin-key-for-tests-0001"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("stack"),
        # The converted base model is reused across runs (and shared with `make run`).
        model_cache_dir=REPO_ROOT / "data" / "models",
        api_keys=(API_KEY,),
        admin_keys=(ADMIN_KEY,),
        gateway_port=free_port(),
        retriever_port=free_port(),
        generator_port=free_port(),
        redis_port=free_port(),
        redis_persistent=False,
    )
    with running_stack(config) as running:
        print("ready after (s):", running.ready_seconds())
        yield running


@pytest.fixture(scope="session")
def gateway_url(stack: Stack) -> str:
    return stack.config.gateway_url


@pytest.fixture(scope="session")
def sample_knowledge_base(gateway_url: str) -> tuple[int, int]:
    return ingest_folder(gateway_url, ADMIN_KEY, SAMPLES / "knowledge_base")


def knowledge_base_folder() -> Path:
    return SAMPLES / "knowledge_base"
