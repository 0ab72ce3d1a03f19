"""The retriever as a real process (``python -m tutorbook_retriever``) on its embedded store, for the
integration tests that need it over real HTTP or need to kill it."""

import os
import sys
from pathlib import Path

from tests.conftest import INTERNAL_TOKEN, MODEL_CACHE
from tutorbook_devstack.processes import ServiceProcess, start_service, wait_ready

PROBE = Path(__file__).with_name("retriever_probe.py")


def start_retriever(data_dir: Path, port: int, probe: Path | None = None) -> ServiceProcess:
    """``probe``: a folder through which a test makes ingestion pause in a phase it names (retriever_probe.py)."""
    env = dict(
        os.environ,
        TUTORBOOK_DATA_DIR=str(data_dir),
        TUTORBOOK_RETRIEVER_SERVER__PORT=str(port),
        TUTORBOOK_INTERNAL_TOKEN=INTERNAL_TOKEN,
        TUTORBOOK_MODEL_CACHE_DIR=str(MODEL_CACHE),
        HF_HUB_OFFLINE="1",
    )
    env.pop("TUTORBOOK_RETRIEVER_STORE__QDRANT_URL", None)  # the embedded store, on disk in data_dir
    command = [sys.executable, str(PROBE), str(probe)] if probe else [sys.executable, "-m", "tutorbook_retriever"]
    service = start_service("retriever", command, env, data_dir / "logs")
    wait_ready(service, f"http://127.0.0.1:{port}/readyz", timeout=120)
    return service
