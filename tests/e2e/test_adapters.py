"""Adapters on the real stack: a tiny adapter trained here in a few steps is uploaded, hot-loaded into the
real vLLM without a restart, served by name and chosen by the router, while chat traffic continues
without a failure; then a new version and a rollback."""

import threading
import time

import httpx
import pytest

from tests.e2e.conftest import ADMIN_KEY, API_KEY

pytestmark = pytest.mark.e2e
USER = {"Authorization": f"Bearer {API_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
TICKET = "Which department should handle this ticket? I was charged twice for my order."


def chat(gateway_url: str, model: str, text: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 12}
    return httpx.post(f"{gateway_url}/v1/chat/completions", json=body, headers=USER, timeout=120)


def upload(gateway_url: str, archive: bytes) -> httpx.Response:
    return httpx.post(f"{gateway_url}/v1/adapters", files={"file": ("a.tar.gz", archive)}, headers=ADMIN, timeout=120)


def test_an_upload_is_served_at_once_and_routed_to(
    gateway_url: str, sample_knowledge_base: object, trained_adapter: bytes
) -> None:
    try:
        started = time.perf_counter()
        uploaded = upload(gateway_url, trained_adapter)
        assert uploaded.status_code == 201, uploaded.text
        assert all(load["ok"] for load in uploaded.json()["loads"])
        first = chat(gateway_url, "e2e-triage", "I was charged twice for my order.")
        seconds = time.perf_counter() - started
        assert first.status_code == 200, first.text
        print(f"upload to first answer through the new adapter: {seconds:.2f} s")
        answer = first.json()
        assert answer["tutorbook"]["route"] == "adapter" and answer["tutorbook"]["adapter"]["name"] == "e2e-triage"
        assert answer["tutorbook"]["classification"]["label"] in {
            "account",
            "billing",
            "returns",
            "shipping",
            "technical",
        }
        base = chat(gateway_url, "smollm2-135m-instruct", "I was charged twice for my order.").json()
        assert answer["choices"][0]["message"]["content"] != base["choices"][0]["message"]["content"]

        time.sleep(1.1)  # the catalogue is re-read once a second on every replica
        routed = chat(gateway_url, "auto", TICKET).json()["tutorbook"]
        version = uploaded.json()["version"]
        assert routed["route"] == "adapter" and routed["adapter"] == {"name": "e2e-triage", "version": version}
    finally:
        httpx.delete(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60)


def test_chat_never_fails_during_uploads_hot_loads_and_rollbacks(
    gateway_url: str, sample_knowledge_base: object, trained_adapter: bytes
) -> None:
    failures: list[str] = []
    served = {"adapter": 0, "base": 0}
    stop = threading.Event()

    def background_traffic(model: str, kind: str) -> None:
        while not stop.is_set():
            response = chat(gateway_url, model, "I was charged twice.")
            if response.status_code != 200:
                failures.append(f"{model}: {response.text}")
            else:
                served[kind] += 1

    first = upload(gateway_url, trained_adapter)
    assert first.status_code == 201
    version = first.json()["version"]
    threads = [
        threading.Thread(target=background_traffic, args=("smollm2-135m-instruct", "base")),
        threading.Thread(target=background_traffic, args=("e2e-triage", "adapter")),
    ]
    for thread in threads:
        thread.start()
    try:
        again = upload(gateway_url, trained_adapter)
        assert again.status_code == 201 and again.json()["version"] == version + 1
        time.sleep(1.5)
        back = httpx.post(
            f"{gateway_url}/v1/adapters/e2e-triage/activate", json={"version": version}, headers=ADMIN, timeout=120
        )
        assert back.status_code == 200 and back.json()["active_version"] == version
        time.sleep(1.5)
        answered = chat(gateway_url, "e2e-triage", "I was charged twice.").json()
        assert answered["tutorbook"]["adapter"]["version"] == version
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)
        httpx.delete(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60)
    assert not failures, failures[:3]
    assert served["adapter"] > 0 and served["base"] > 0


def test_a_deleted_names_next_upload_is_new_to_the_cache(gateway_url: str, trained_adapter: bytes) -> None:
    """The same deterministic question to an adapter: answered, then from the cache; the adapter is deleted
    and an adapter uploaded under the same name: its answer is its own, never the cached one."""
    question = "I was charged twice for my order."
    try:
        first = upload(gateway_url, trained_adapter).json()["version"]
        assert chat(gateway_url, "e2e-triage", question).headers["x-tutorbook-cache"] == "miss"
        assert chat(gateway_url, "e2e-triage", question).headers["x-tutorbook-cache"] == "hit"
        assert httpx.delete(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60).status_code == 200
        second = upload(gateway_url, trained_adapter).json()["version"]
        assert second > first  # numbers are never given twice
        answer = chat(gateway_url, "e2e-triage", question)
        assert answer.headers["x-tutorbook-cache"] == "miss"
        assert answer.json()["tutorbook"]["adapter"] == {"name": "e2e-triage", "version": second}
    finally:
        httpx.delete(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60)
