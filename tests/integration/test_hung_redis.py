"""A Redis that accepts connections and never answers (hung, or a network that drops replies): chat
still answers, each state operation giving up after TUTORBOOK_GATEWAY_STATE__REDIS_TIMEOUT_SECONDS (sessions and the
cache degrade to nothing, rate limits fail open), and /readyz says Redis failed. Real sockets."""

import time

from litestar.testing import TestClient

from tests.conftest import INTERNAL_TOKEN
from tests.unit.fakes import RETURNS, USER, WARRANTY, FakeGenerator, FakeRetriever
from tutorbook_config.service_settings import configured
from tutorbook_gateway.app import create_app
from tutorbook_gateway.settings import GatewaySettings


def test_chat_answers_through_a_hung_redis_within_its_timeouts(silent_address: tuple[str, int]) -> None:
    settings = configured(
        GatewaySettings,
        keys__api_keys="user-key-for-tests-0001",
        keys__admin_keys="admin-key-for-tests-0001",
        shared__internal_token=INTERNAL_TOKEN,
        shared__base_model_name="base",
        shared__redis_url="redis://{}:{}/0".format(*silent_address),
        state__redis_timeout_seconds=0.3,
        router__rag_min_score=0.5,
    )
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
