"""The whole stack as real processes: redis-server, vLLM (generator), retriever and gateway."""

import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import MODEL_CACHE, SAMPLES, free_port
from tests.e2e.otlp_receiver import OtlpReceiver
from tutorbook_devstack.load.adapter import RolloutVersions, train_rollout_versions, train_tiny
from tutorbook_devstack.processes import start_service, wait_ready
from tutorbook_devstack.stack import SERVICE_READY_TIMEOUT, Stack, StackConfig, ingest_folder, running_stack
from tutorbook_training.upload import pack

API_KEY = "e2e-user-key-for-tests-0001"
ADMIN_KEY = "e2e-admin-key-for-tests-0001"
# The load test's virtual users (one key each, as separate product apps) and the generated-input test's key.
LOAD_KEYS = tuple(f"e2e-load-key-{number:02d}-0001" for number in range(8))
FUZZ_KEY = "e2e-fuzz-key-for-tests-0001"
ROLLOUT_ADAPTER = "e2e-rollout"
# Generated input writes odd documents and asks for odd adapters: it runs after every other e2e test.
RUNS_LAST = "test_generated_input.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name == RUNS_LAST)


@dataclass(frozen=True)
class Trainings:
    triage: Future[Path]
    rollout: Future[RolloutVersions]


@pytest.fixture(scope="session")
def adapter_training(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trainings]:
    """The adapters the tests upload, trained one after another in a thread of their own while the stack
    starts and the first tests run (each only when a collected test needs it): support triage (served as
    ``e2e-triage``), a few steps, enough to answer with a department; then the rollout tests' three."""
    fixtures = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    with ThreadPoolExecutor(1) as pool:
        triage: Future[Path] = Future()
        rollout: Future[RolloutVersions] = Future()
        if fixtures & {"trained_adapter", "trained_adapter_folder"}:
            triage = pool.submit(trained_into, tmp_path_factory.mktemp("adapter"))
        if "rollout_adapters" in fixtures:
            rollout = pool.submit(rollout_adapters_into, tmp_path_factory.mktemp("rollout"))
        yield Trainings(triage, rollout)


def trained_into(folder: Path) -> Path:
    train_tiny(SAMPLES, folder, "e2e-triage")
    return folder


def rollout_adapters_into(folder: Path) -> RolloutVersions:
    return train_rollout_versions(SAMPLES, folder, ROLLOUT_ADAPTER)


@pytest.fixture(scope="session")
def rollout_adapters(adapter_training: Trainings) -> RolloutVersions:
    return adapter_training.rollout.result()


@pytest.fixture(scope="session")
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """Where every service of the stack sends its traces (as to an OpenTelemetry collector)."""
    receiver = OtlpReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory, adapter_training: Trainings, otlp_receiver: OtlpReceiver
) -> Iterator[Stack]:
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("stack"),
        # The converted base model is reused across runs (and shared with `make run`).
        model_cache_dir=MODEL_CACHE,
        api_keys=(API_KEY, FUZZ_KEY, *LOAD_KEYS),
        admin_keys=(ADMIN_KEY,),
        gateway_port=free_port(),
        retriever_port=free_port(),
        generator_port=free_port(),
        redis_port=free_port(),
        redis_persistent=False,
        extra_env={
            "TUTORBOOK_GENERATOR_ENGINE__EXTRA_ARGS": "--enable-log-requests",  # vLLM logs each request's id
            "TUTORBOOK_OTLP_ENDPOINT": otlp_receiver.url,
            "OTEL_BSP_SCHEDULE_DELAY": "500",  # spans exported every half second (the SDK's default: 5 s)
        },
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


@pytest.fixture(scope="session")
def trained_adapter_folder(adapter_training: Trainings) -> Path:
    """The folder ``tutorbook-train-adapter`` writes (copy it before changing it)."""
    return adapter_training.triage.result()


@pytest.fixture(scope="session")
def trained_adapter(trained_adapter_folder: Path) -> bytes:
    """The trained adapter, packed as an upload archive."""
    return pack(trained_adapter_folder)


@contextmanager
def another_gateway(stack: Stack, name: str, settings: dict[str, str]) -> Iterator[str]:
    """A second gateway process on the stack's Redis, retriever and generator, with other ``settings``
    (environment variables); its URL."""
    port = free_port()
    env = {**stack.env, "TUTORBOOK_GATEWAY_SERVER__PORT": str(port), **settings}
    gateway = start_service(name, [sys.executable, "-m", "tutorbook_gateway"], env, stack.log_dir)
    try:
        url = stack.config.url(port)
        wait_ready(gateway, url + "/readyz", SERVICE_READY_TIMEOUT)
        yield url
    finally:
        gateway.stop()
