"""A document the retriever acknowledged survives ``kill -9`` of the process and a restart."""

import os
import signal
import sys
from pathlib import Path

import httpx

from tests.conftest import INTERNAL, INTERNAL_TOKEN, free_port
from tutorbook_devstack.processes import ServiceProcess, start_service, wait_ready


def start_retriever(data_dir: Path, port: int) -> ServiceProcess:
    env = dict(
        os.environ,
        TUTORBOOK_DATA_DIR=str(data_dir),
        TUTORBOOK_RETRIEVER_PORT=str(port),
        TUTORBOOK_INTERNAL_TOKEN=INTERNAL_TOKEN,
        HF_HUB_OFFLINE="1",
    )
    env.pop("TUTORBOOK_QDRANT_URL", None)  # this test is about the embedded store on disk
    service = start_service("retriever", [sys.executable, "-m", "tutorbook_retriever"], env, data_dir / "logs")
    wait_ready(service, f"http://127.0.0.1:{port}/readyz", timeout=120)
    return service


def test_acknowledged_documents_survive_kill_9(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = start_retriever(tmp_path, port)
    try:
        documents = [{"id": f"doc-{i}", "text": f"Product number {i} has warranty code W{i}."} for i in range(20)]
        response = httpx.post(f"{url}/v1/documents", json={"documents": documents}, headers=INTERNAL, timeout=60)
        assert response.status_code == 200
        version = response.json()["index_version"]
    finally:
        os.kill(first.process.pid, signal.SIGKILL)  # no shutdown hook runs
        first.process.wait(10)
    second = start_retriever(tmp_path, port)
    try:
        listing = httpx.get(f"{url}/v1/documents", headers=INTERNAL).json()
        assert listing["total"] == 20 and listing["index_version"] == version
        hits = httpx.post(f"{url}/v1/search", json={"query": "warranty code W17", "top_k": 1}, headers=INTERNAL).json()[
            "hits"
        ]
        assert hits[0]["doc_id"] == "doc-17"
    finally:
        second.stop()
