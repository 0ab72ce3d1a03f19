"""A gateway process killed with SIGKILL in the middle of adapter uploads and of activations: the store
holds each version whole or not at all, the active pointer names a version that is there, and what the
killed process left in the store's scratch folders is swept once it is old enough. A stand-in answers as
vLLM (loads) and the retriever (route examples) do, holding the request of the phase under test until the
kill has landed (no timed wait a slow machine can outrun). Each kill waits until the upload or activation
is seen in the phase under test (on disk, or at the stand-in), and the phase it landed in is asserted:
never a kill that lands before the request arrived or after it was answered."""

import base64
import contextlib
import functools
import json
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from tests.conftest import eventually, free_port
from tests.integration.adapter_archives import SMOLLM2_CONFIG, adapter_files, tar_gz
from tests.integration.gateway_process import start_gateway
from tests.unit.fakes import ADMIN
from tutorbook_devstack.processes import ServiceProcess

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


class RecordingServer(ThreadingHTTPServer):
    received: list[tuple[str, str]]  # (method, path) of each request, as it arrives
    held: set[tuple[str, str]]  # requests answered only once ``released`` is set
    released: threading.Event


HOLD_SECONDS = 60  # a held request is answered after this even if never released


class SlowUpstream(BaseHTTPRequestHandler):
    """vLLM's adapter loads and the retriever's route examples, each answered OK; a request the test holds
    is answered only once released, so a test that saw it arrive kills the gateway while it waits."""

    def answer(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        server = cast(RecordingServer, self.server)
        server.received.append((self.command, self.path))
        if (self.command, self.path) in server.held:
            server.released.wait(HOLD_SECONDS)
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


@dataclass
class Upstream:
    url: str
    server: RecordingServer

    @property
    def received(self) -> list[tuple[str, str]]:
        return self.server.received

    @contextlib.contextmanager
    def holding(self, *requests: tuple[str, str]) -> Iterator[None]:
        """Hold ``requests`` unanswered inside the block; answer them (to a killed caller) on leaving it."""
        self.server.released.clear()
        self.server.held = set(requests)
        try:
            yield
        finally:
            self.server.held = set()
            self.server.released.set()


@pytest.fixture
def slow_upstream() -> Iterator[Upstream]:
    server = RecordingServer(("127.0.0.1", 0), SlowUpstream)
    server.received, server.held, server.released = [], set(), threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Upstream(f"http://127.0.0.1:{server.server_address[1]}", server)
    finally:
        server.released.set()
        server.shutdown()
        server.server_close()


LOAD = ("POST", "/v1/load_lora_adapter")
EXAMPLES = ("PUT", "/v1/route-examples/triage")


# Where an upload is when it is killed, in order: its large file being written in its folder in
# .incoming; renamed into a new version (and being loaded: the stand-in holds vLLM's answer).
UPLOAD_PHASES = ("writing", "stored")


def test_uploads_killed_at_any_moment_leave_whole_versions_or_nothing(
    tmp_path: Path, adapter_dir: Path, slow_upstream: Upstream
) -> None:
    port, archive = free_port(), tar_gz(FILES)
    url = f"http://127.0.0.1:{port}"
    landed: list[str] = []
    for phase in UPLOAD_PHASES:
        for _ in range(3):  # a kill can land a moment late (the large file already written): again
            landed.append(kill_uploading(tmp_path, port, slow_upstream, archive, adapter_dir, phase))
            versions = list(complete_versions(adapter_dir))
            pointer = adapter_dir / ".active" / "triage"
            assert not pointer.exists() or (adapter_dir / f"triage@{pointer.read_text().strip()}") in versions
            if landed[-1] == phase:
                break
    assert set(UPLOAD_PHASES) <= set(landed), f"the kills landed in {landed}, not in each of {UPLOAD_PHASES}"
    leftovers = [path for scratch in (".incoming", ".trash") for path in (adapter_dir / scratch).glob("*")]
    assert leftovers, "the kill while writing left no folder in .incoming to sweep"
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


def kill_uploading(tmp_path: Path, port: int, upstream: Upstream, archive: bytes, adapter_dir: Path, phase: str) -> str:
    """Upload ``archive`` to a new gateway and ``kill -9`` it as soon as the upload is seen in ``phase``;
    returns the phase the kill landed in, read from what it left: "answered", "stored" (a new version),
    "writing" (a new folder left in .incoming) or "receiving" (nothing written)."""
    incoming = adapter_dir / ".incoming"
    earlier = {*incoming.glob("*"), *adapter_dir.glob("triage@*")}

    def new(paths: Iterator[Path]) -> list[Path]:
        return [path for path in paths if path not in earlier]

    def reached() -> bool:
        if phase == "writing":
            return any((folder / "README.md").exists() for folder in new(incoming.glob("*")))
        return bool(new(adapter_dir.glob("triage@*")))

    gateway = start_gateway(tmp_path, port, upstream.url)
    answers: list[int] = []
    send = functools.partial(upload_ignoring_errors, f"http://127.0.0.1:{port}", archive, answers)
    with upstream.holding(LOAD):  # a stored version is loaded next: held there until the kill
        kill_when(gateway, send, reached, f"the upload to reach {phase}")
    if answers:
        return "answered"
    if new(adapter_dir.glob("triage@*")):
        return "stored"
    return "writing" if new(incoming.glob("*")) else "receiving"


def kill_when(gateway: ServiceProcess, send: Callable[[], None], reached: Callable[[], bool], what: str) -> None:
    """Run ``send`` against ``gateway`` in a thread and ``kill -9`` the gateway the moment ``reached()`` (or
    the request was answered first); returns once the sender has seen the connection end."""
    sender = threading.Thread(target=send)
    sender.start()
    try:
        eventually(lambda: reached() or not sender.is_alive(), 60, what, every=0.001)
    finally:
        os.kill(gateway.process.pid, signal.SIGKILL)
        gateway.process.wait(10)
        sender.join()


def upload_ignoring_errors(url: str, archive: bytes, answers: list[int]) -> None:
    with contextlib.suppress(httpx.HTTPError):  # killed under it
        response = httpx.post(f"{url}/v1/adapters", files={"file": ("a.tar.gz", archive)}, headers=ADMIN, timeout=60)
        answers.append(response.status_code)


def active_pointer(adapter_dir: Path) -> int:
    return int((adapter_dir / ".active" / "triage").read_text())


# Where an activation is when it is killed, in order: its version being loaded on vLLM; the router being
# taught its route examples (the retriever); the pointer switched to it.
ACTIVATION_PHASES = ("loading", "examples", "switched")


def test_activations_killed_at_any_moment_leave_the_pointer_on_a_stored_version(
    tmp_path: Path, adapter_dir: Path, slow_upstream: Upstream
) -> None:
    port, archive = free_port(), tar_gz(FILES)
    url = f"http://127.0.0.1:{port}"
    gateway = start_gateway(tmp_path, port, slow_upstream.url)
    for _ in range(2):
        stored = httpx.post(f"{url}/v1/adapters", files={"file": ("a.tar.gz", archive)}, headers=ADMIN, timeout=60)
        assert stored.status_code == 201, stored.text
    gateway.stop()
    assert active_pointer(adapter_dir) == 2
    for phase in (*ACTIVATION_PHASES, *ACTIVATION_PHASES):  # each phase activating version 1, and version 2
        previous = active_pointer(adapter_dir)
        target = 3 - previous  # the other version
        landed = kill_activating(tmp_path, port, slow_upstream, adapter_dir, target, phase)
        if phase == "switched":  # the answer may leave between the switch and the kill
            assert landed in ("switched", "answered") and active_pointer(adapter_dir) == target, landed
        else:  # held while the stand-in waits: the switch cannot have happened yet
            assert landed == phase and active_pointer(adapter_dir) == previous, (phase, landed)
        assert len(list(complete_versions(adapter_dir))) == 2
    gateway = start_gateway(tmp_path, port, slow_upstream.url)
    try:
        described = httpx.get(f"{url}/v1/adapters/triage", headers=ADMIN, timeout=10).json()
        assert described["active_version"] == active_pointer(adapter_dir)
        switched = httpx.post(f"{url}/v1/adapters/triage/activate", json={"version": 1}, headers=ADMIN, timeout=60)
        assert switched.status_code == 200 and active_pointer(adapter_dir) == 1
    finally:
        gateway.stop()


def kill_activating(tmp_path: Path, port: int, upstream: Upstream, adapter_dir: Path, target: int, phase: str) -> str:
    """Activate ``target`` on a new gateway and ``kill -9`` it as soon as the activation is seen in
    ``phase``; returns the phase the kill landed in: "answered", "switched" (the pointer names ``target``),
    "examples" or "loading" (the last request the stand-in received), or "receiving"."""

    def reached() -> bool:
        if phase == "switched":
            return active_pointer(adapter_dir) == target
        return (LOAD if phase == "loading" else EXAMPLES) in upstream.received

    gateway = start_gateway(tmp_path, port, upstream.url)
    eventually(lambda: examples_stored(port), 30, "the gateway's start-up route examples stored")
    upstream.received.clear()  # what this activation asks of vLLM and the retriever (not the start-up's)
    answers: list[int] = []
    send = functools.partial(activate_ignoring_errors, f"http://127.0.0.1:{port}", target, answers)
    held = {"loading": (LOAD,), "examples": (EXAMPLES,)}.get(phase, ())
    with upstream.holding(*held):
        kill_when(gateway, send, reached, f"the activation to reach {phase}")
    if answers:
        return "answered"
    if active_pointer(adapter_dir) == target:
        return "switched"
    if EXAMPLES in upstream.received:
        return "examples"
    return "loading" if LOAD in upstream.received else "receiving"


def examples_stored(port: int) -> bool:
    """The gateway has stored its route examples at start (the same PUT an activation sends)."""
    checks = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).json().get("checks", {})
    return bool(checks.get("route_examples") == "ok")


def activate_ignoring_errors(url: str, version: int, answers: list[int]) -> None:
    with contextlib.suppress(httpx.HTTPError):  # killed under it
        response = httpx.post(
            f"{url}/v1/adapters/triage/activate", json={"version": version}, headers=ADMIN, timeout=60
        )
        answers.append(response.status_code)
