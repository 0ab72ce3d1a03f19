"""A gateway process killed with SIGKILL in the middle of adapter uploads and of activations: the store
holds each version whole or not at all, the active pointer names a version that is there, and what the
killed process left in the store's scratch folders is swept once it is old enough. For activations, a
stand-in answers as vLLM (loads) and the retriever (route examples) do, each after a short wait."""

import base64
import contextlib
import json
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.integration.adapter_archives import SMOLLM2_CONFIG, adapter_files, tar_gz
from tests.integration.gateway_process import start_gateway
from tests.unit.fakes import ADMIN

README = base64.b64encode(random.Random(1).randbytes(20_000_000))  # a large archive: a long write
FILES = {**adapter_files(), "README.md": README}


@pytest.fixture
def adapter_dir(tmp_path: Path) -> Path:
    published = tmp_path / "adapters" / ".base_model"  # what a generator publishes for the gateway
    published.mkdir(parents=True)
    (published / "config.json").write_text(json.dumps(SMOLLM2_CONFIG))
    (published / "name").write_text("/models/SmolLM2-135M-Instruct")
    return tmp_path / "adapters"


def complete_versions(adapter_dir: Path) -> Iterator[Path]:
    for folder in sorted(adapter_dir.glob("triage@*")):
        assert {path.name: path.read_bytes() for path in folder.iterdir()}.keys() == FILES.keys(), folder
        assert (folder / "README.md").read_bytes() == README, f"{folder} is not whole"
        yield folder


def test_uploads_killed_at_any_moment_leave_whole_versions_or_nothing(tmp_path: Path, adapter_dir: Path) -> None:
    port, archive = free_port(), tar_gz(FILES)
    url = f"http://127.0.0.1:{port}"
    for delay in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1.0):  # reading, unpacking, writing, after
        gateway = start_gateway(tmp_path, port)
        sender = threading.Thread(target=upload_ignoring_errors, args=(url, archive))
        sender.start()
        time.sleep(delay)
        os.kill(gateway.process.pid, signal.SIGKILL)
        gateway.process.wait(10)
        sender.join()
        print(
            f"killed after {delay} s:",
            sorted(p.name for p in adapter_dir.glob("*")),
            sorted(p.name for p in (adapter_dir / ".incoming").glob("*"))
            if (adapter_dir / ".incoming").exists()
            else [],
        )
        versions = list(complete_versions(adapter_dir))
        pointer = adapter_dir / ".active" / "triage"
        assert not pointer.exists() or (adapter_dir / f"triage@{pointer.read_text().strip()}") in versions
    leftovers = [path for scratch in (".incoming", ".trash") for path in (adapter_dir / scratch).glob("*")]
    for path in leftovers:  # as if written by a process killed over an hour ago
        os.utime(path, (time.time() - 7200, time.time() - 7200))
    gateway = start_gateway(tmp_path, port)
    try:
        listed = (
            httpx.get(f"{url}/v1/adapters/triage", headers=ADMIN).json()
            if list(complete_versions(adapter_dir))
            else None
        )
        assert listed is None or [v["version"] for v in listed["versions"]] == [
            int(folder.name.split("@")[1]) for folder in complete_versions(adapter_dir)
        ]
        assert all(not path.exists() for path in leftovers)  # swept at start
    finally:
        gateway.stop()


def upload_ignoring_errors(url: str, archive: bytes) -> None:
    with contextlib.suppress(httpx.HTTPError):  # killed under it
        httpx.post(f"{url}/v1/adapters", files={"file": ("a.tar.gz", archive)}, headers=ADMIN, timeout=60)


class SlowUpstream(BaseHTTPRequestHandler):
    """vLLM's adapter loads and the retriever's route examples, each answered OK after a short wait."""

    def answer(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        time.sleep(0.15)
        body = b"{}"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.answer()

    def do_PUT(self) -> None:
        self.answer()

    def do_GET(self) -> None:
        self.answer()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def slow_upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowUpstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def active_pointer(adapter_dir: Path) -> int:
    return int((adapter_dir / ".active" / "triage").read_text())


def test_activations_killed_at_any_moment_leave_the_pointer_on_a_stored_version(
    tmp_path: Path, adapter_dir: Path, slow_upstream: str
) -> None:
    port, archive = free_port(), tar_gz(FILES)
    url = f"http://127.0.0.1:{port}"
    gateway = start_gateway(tmp_path, port, slow_upstream)
    for _ in range(2):
        stored = httpx.post(f"{url}/v1/adapters", files={"file": ("a.tar.gz", archive)}, headers=ADMIN, timeout=60)
        assert stored.status_code == 201, stored.text
    gateway.stop()
    assert active_pointer(adapter_dir) == 2
    for round_number, delay in enumerate((0.02, 0.08, 0.14, 0.2, 0.3, 0.45)):  # loading, examples, switch, after
        gateway = start_gateway(tmp_path, port, slow_upstream)
        target = 1 + round_number % 2
        sender = threading.Thread(target=activate_ignoring_errors, args=(url, target))
        sender.start()
        time.sleep(delay)
        os.kill(gateway.process.pid, signal.SIGKILL)
        gateway.process.wait(10)
        sender.join()
        print(f"killed after {delay} s activating {target}: active {active_pointer(adapter_dir)}")
        assert active_pointer(adapter_dir) in (1, 2)
        assert len(list(complete_versions(adapter_dir))) == 2
    gateway = start_gateway(tmp_path, port, slow_upstream)
    try:
        described = httpx.get(f"{url}/v1/adapters/triage", headers=ADMIN, timeout=10).json()
        assert described["active_version"] == active_pointer(adapter_dir)
        switched = httpx.post(f"{url}/v1/adapters/triage/activate", json={"version": 1}, headers=ADMIN, timeout=60)
        assert switched.status_code == 200 and active_pointer(adapter_dir) == 1
    finally:
        gateway.stop()


def activate_ignoring_errors(url: str, version: int) -> None:
    with contextlib.suppress(httpx.HTTPError):  # killed under it
        httpx.post(f"{url}/v1/adapters/triage/activate", json={"version": version}, headers=ADMIN, timeout=60)
