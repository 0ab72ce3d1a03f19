"""A Redis that accepts connections and never answers (hung, or a network that drops replies): chat
still answers, each state operation giving up after TUTORBOOK_REDIS_TIMEOUT_SECONDS (sessions and the
cache degrade to nothing, rate limits fail open), and /readyz says Redis failed. Real sockets."""

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from tests.conftest import INTERNAL_TOKEN
from tests.unit.fakes import RETURNS, USER, WARRANTY, FakeGenerator, FakeRetriever
from tutorbook_gateway.app import create_app
from tutorbook_gateway.settings import GatewaySettings


@pytest.fixture
def hung_redis_url() -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])  # never a reply
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def test_chat_answers_through_a_hung_redis_within_its_timeouts(hung_redis_url: str) -> None:
    settings = GatewaySettings(
        api_keys="user-key-for-tests-0001", admin_keys="admin-key-for-tests-0001", internal_token=INTERNAL_TOKEN,
        base_model_name="base", redis_url=hung_redis_url, redis_timeout_seconds=0.3, rag_min_score=0.5,
    )  # fmt: skip
    app = create_app(settings, retriever=FakeRetriever([WARRANTY, RETURNS]), generator=FakeGenerator())
    with TestClient(app) as client:
        body = {"model": "auto", "messages": [{"role": "user", "content": "How long is the warranty?"}],
                "tutorbook": {"session_id": "s1"}}  # fmt: skip
        started = time.monotonic()
        answered = client.post("/v1/chat/completions", json=body, headers=USER)
        waited = time.monotonic() - started
        assert answered.status_code == 200 and answered.json()["tutorbook"]["route"] == "rag"
        assert waited < 3, f"a hung Redis held the answer for {waited:.1f} s"  # 0.9 s measured: 3 timeouts
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"] != "ok"
        errors = [line for line in client.get("/metrics").text.splitlines() if "state_errors_total{" in line]
        assert errors and any(float(line.rsplit(" ", 1)[1]) > 0 for line in errors)
