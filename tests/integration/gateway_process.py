"""A gateway as a real process, on its own port and data folder (the keys of the unit tests)."""

import os
import sys
from pathlib import Path

from tests.conftest import INTERNAL_TOKEN, free_port
from tutorbook_devstack.processes import ServiceProcess, start_service, wait_ready


def start_gateway(data_dir: Path, port: int, upstream: str = "", redis_url: str = "", **env: str) -> ServiceProcess:
    """Nothing answers as the retriever and the generator unless ``upstream`` is given: uploads are
    stored, then fail to load; chat fails. ``redis_url``: the shared state (none: in-process)."""
    environment = dict(
        os.environ,
        TUTORBOOK_DATA_DIR=str(data_dir),
        TUTORBOOK_GATEWAY_SERVER__PORT=str(port),
        TUTORBOOK_GATEWAY_KEYS__API_KEYS="user-key-for-tests-0001",
        TUTORBOOK_GATEWAY_KEYS__ADMIN_KEYS="admin-key-for-tests-0001",
        TUTORBOOK_INTERNAL_TOKEN=INTERNAL_TOKEN,
        TUTORBOOK_REDIS_URL=redis_url,
        TUTORBOOK_GATEWAY_UPSTREAMS__RETRIEVER_URL=upstream or f"http://127.0.0.1:{free_port()}",
        TUTORBOOK_GATEWAY_UPSTREAMS__GENERATOR_URL=upstream or f"http://127.0.0.1:{free_port()}",
        **env,
    )
    command = [sys.executable, "-m", "tutorbook_gateway"]
    service = start_service("gateway", command, environment, data_dir / "logs", append=True)
    wait_ready(service, f"http://127.0.0.1:{port}/healthz", timeout=60)
    return service
