"""A gateway killed with SIGKILL while the real vLLM loads the version it is activating: the pointer stays
on the version that was active, the stack's other gateway serves that version, and activating the
other version afterwards works (vLLM's "already loaded" is no error) once the lock the killed gateway
held on the name is gone.

The kill is placed inside the load by a proxy in front of the real vLLM: it passes every request on, and
holds vLLM's answer to the one load request under test until the gateway is dead. vLLM itself really
loads the version (its /v1/models lists it); only the answer's way back to the gateway is held."""

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import redis

from tests.conftest import eventually, free_port
from tests.e2e.conftest import ADMIN_KEY, API_KEY
from tests.e2e.test_adapters import with_card
from tutorbook_devstack.processes import start_service, wait_ready
from tutorbook_devstack.stack import SERVICE_READY_TIMEOUT, Stack
from tutorbook_training.upload import pack

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
NAME = "e2e-killed"
LOAD = "/v1/load_lora_adapter"


class ProxyServer(ThreadingHTTPServer):
    upstream: str
    holding: bool  # hold the next load's answer until released
    loaded: list[int]  # the status vLLM answered each held load with
    released: threading.Event


class HoldingProxy(BaseHTTPRequestHandler):
    def forward(self) -> None:
        server = cast(ProxyServer, self.server)
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
        answer = httpx.request(self.command, server.upstream + self.path, content=body, headers=headers, timeout=120)
        if self.path == LOAD and server.holding:
            server.loaded.append(answer.status_code)
            server.released.wait(120)  # the gateway is killed meanwhile
        self.send_response(answer.status_code)
        self.send_header("content-type", answer.headers.get("content-type", "application/json"))
        self.send_header("content-length", str(len(answer.content)))
        self.end_headers()
        with contextlib.suppress(OSError):  # a killed gateway is not there to read it
            self.wfile.write(answer.content)

    def do_GET(self) -> None:
        self.forward()

    def do_POST(self) -> None:
        self.forward()

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def proxy_for(upstream: str) -> Iterator[ProxyServer]:
    server = ProxyServer(("127.0.0.1", 0), HoldingProxy)
    server.upstream, server.holding, server.loaded, server.released = upstream, False, [], threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.released.set()
        server.shutdown()
        server.server_close()


def activate(url: str, version: int, answers: list[int]) -> None:
    with contextlib.suppress(httpx.HTTPError):  # killed under it
        answered = httpx.post(f"{url}/v1/adapters/{NAME}/activate", json={"version": version}, **admin(120))
        answers.append(answered.status_code)


def admin(timeout: float) -> dict[str, Any]:
    return {"headers": ADMIN, "timeout": timeout}


def served_model(gateway_url: str) -> str:
    body = {"model": NAME, "messages": [{"role": "user", "content": "I was charged twice for my order."}]}
    user = {"Authorization": f"Bearer {API_KEY}"}
    answer = httpx.post(f"{gateway_url}/v1/chat/completions", json=body, headers=user, timeout=120)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["model"])


def served_by_vllm(stack: Stack) -> set[str]:
    token = {"Authorization": f"Bearer {stack.config.internal_token}"}
    listed = httpx.get(f"{stack.config.url(stack.config.generator_port)}/v1/models", headers=token, timeout=30)
    return {model["id"] for model in listed.json()["data"]}


def kill_while_loading(stack: Stack, proxy: ProxyServer, archive: bytes) -> list[int]:
    """A gateway behind ``proxy`` stores versions 1 and 2, then is killed while vLLM loads version 1 to
    activate it; what the activation answered (nothing, when the kill landed inside the load)."""
    port, proxied = free_port(), f"http://127.0.0.1:{proxy.server_address[1]}"
    env = {
        **stack.env,
        "TUTORBOOK_GATEWAY_SERVER__PORT": str(port),
        "TUTORBOOK_GATEWAY_UPSTREAMS__GENERATOR_URL": proxied,
        "TUTORBOOK_GATEWAY_ADAPTERS__UNLOAD_GRACE_SECONDS": "0",  # version 1 leaves vLLM when 2 comes
    }
    gateway = start_service("gateway-killed", [sys.executable, "-m", "tutorbook_gateway"], env, stack.log_dir)
    url, answers = stack.config.url(port), cast(list[int], [])
    try:
        wait_ready(gateway, url + "/readyz", SERVICE_READY_TIMEOUT)
        for version in (1, 2):
            stored = httpx.post(f"{url}/v1/adapters", files={"file": ("a.tar.gz", archive)}, **admin(120))
            assert stored.status_code == 201 and stored.json()["version"] == version, stored.text
        eventually(lambda: f"{NAME}@1" not in served_by_vllm(stack), 30, "version 1 unloaded from vLLM")
        proxy.holding = True
        sender = threading.Thread(target=activate, args=(url, 1, answers))
        sender.start()
        eventually(lambda: bool(proxy.loaded), 120, "the real vLLM to answer the load of version 1")
        os.kill(gateway.process.pid, signal.SIGKILL)
        gateway.process.wait(10)
        sender.join(30)
    finally:
        gateway.stop()
    return answers


def test_a_gateway_killed_while_vllm_loads_leaves_the_pointer_on_the_active_version(
    stack: Stack, gateway_url: str, trained_adapter_folder: Path, tmp_path: Path
) -> None:
    archive = pack(with_card(trained_adapter_folder, tmp_path / "adapter", name=NAME, route_examples=[]))
    try:
        with proxy_for(stack.config.url(stack.config.generator_port)) as proxy:
            answers = kill_while_loading(stack, proxy, archive)
        assert proxy.loaded == [200] and answers == []  # vLLM loaded it; the gateway died before answering
        assert f"{NAME}@1" in served_by_vllm(stack)  # really loaded, and left loaded by the killed gateway
        described = httpx.get(f"{gateway_url}/v1/adapters/{NAME}", **admin(30)).json()
        assert described["active_version"] == 2  # the pointer never moved
        # The killed gateway's lock on the name outlives it (until its TTL, 5 minutes: changes to the name
        # are refused with 409 meanwhile, docs/adapters.md); remove it as an operator would, not wait.
        store = redis.Redis.from_url(stack.env["TUTORBOOK_REDIS_URL"])
        assert store.delete(f"tb:adapter-lock:{NAME}") == 1
        eventually(lambda: served_model(gateway_url) == f"{NAME}@2", 30, "the other gateway serving version 2")
        switched = httpx.post(f"{gateway_url}/v1/adapters/{NAME}/activate", json={"version": 1}, **admin(120))
        assert switched.status_code == 200, switched.text
        eventually(lambda: served_model(gateway_url) == f"{NAME}@1", 30, "version 1 served after the kill")
    finally:
        httpx.delete(f"{gateway_url}/v1/adapters/{NAME}", **admin(60))
