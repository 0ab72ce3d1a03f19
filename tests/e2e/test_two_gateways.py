"""Two gateway processes on one Redis, as Kubernetes runs them (2 to 10): what is done through one is what
the other serves. An ingest through A turns B's cached answer into a miss, also when the index version's
announcement never reaches B; an adapter version activated through A is served by B, and a rollback
through B is served by A; a key's request limit holds across both. (A key made or revoked through one
gateway and refused by the other within a second: tests/integration/test_runtime_keys.py.)"""

import secrets
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.conftest import eventually
from tests.e2e.conftest import ADMIN_KEY, API_KEY, another_gateway
from tutorbook_devstack.stack import Stack
from tutorbook_gateway.state.index_version import REREAD_SECONDS
from tutorbook_service.index_version import INDEX_VERSION_KEY

pytestmark = pytest.mark.e2e
USER = {"Authorization": f"Bearer {API_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
HAMMER_SECONDS = 60.0  # a minute: leases left over from refills would add up over it, if they did
PAUSE_SECONDS = 0.05  # between one gateway's requests: 20 a second each, far past the key's limit


@pytest.fixture(scope="module")
def gateway_b(stack: Stack) -> Iterator[str]:
    with another_gateway(stack, "gateway-two", {}) as url:
        yield url


def ask(url: str, question: str, model: str = "auto", headers: dict[str, str] = USER) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": question}], "max_tokens": 16}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=150)


def cache_of(url: str, question: str) -> str:
    answer = ask(url, question)
    assert answer.status_code == 200, answer.text
    assert answer.json()["tutorbook"]["route"] == "rag"  # an answer from the documents: cached per index version
    return str(answer.headers["x-tutorbook-cache"])


def ingest(url: str, doc_id: str) -> None:
    probe = {"documents": [{"id": doc_id, "text": "Two-gateway probe document.", "title": "Probe"}]}
    assert httpx.post(f"{url}/v1/documents", json=probe, headers=ADMIN, timeout=60).status_code == 200


def test_an_ingest_through_one_gateway_is_a_cache_miss_on_the_other(
    stack: Stack, gateway_url: str, gateway_b: str, sample_knowledge_base: object
) -> None:
    question = "How do I descale the BrewMate Pro coffee maker?"
    cache_of(gateway_b, question)
    eventually(lambda: cache_of(gateway_b, question) == "hit", 60, "B's answer cached")  # written off its path
    doc_id = f"e2e-two-gateways-{secrets.token_hex(3)}"
    ingest(gateway_url, doc_id)
    try:
        assert cache_of(gateway_b, question) == "miss"
        eventually(lambda: cache_of(gateway_b, question) == "hit", 60, "cached again, at the new version")
        # An ingest whose announcement is lost: the version is published in Redis and never announced.
        store = redis.Redis.from_url(stack.env["TUTORBOOK_REDIS_URL"])
        store.set(INDEX_VERSION_KEY, time.time_ns())
        store.close()
        started = time.monotonic()
        eventually(lambda: cache_of(gateway_b, question) != "hit", 3 * REREAD_SECONDS, "B noticing the new version")
        print(f"noticed {time.monotonic() - started:.2f} s after the version was published without announcement")
    finally:
        httpx.delete(f"{gateway_url}/v1/documents/{doc_id}", headers=ADMIN, timeout=60)


def adapter_version(url: str, text: str) -> int:
    answer = ask(url, text, model="e2e-triage")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["tutorbook"]["adapter"]["version"])


def activate(url: str, version: int) -> None:
    body = {"version": version}
    done = httpx.post(f"{url}/v1/adapters/e2e-triage/activate", json=body, headers=ADMIN, timeout=120)
    assert done.status_code == 200 and done.json()["active_version"] == version, done.text


def test_an_adapter_activated_through_one_gateway_is_served_by_the_other(
    gateway_url: str, gateway_b: str, trained_adapter: bytes
) -> None:
    files = {"file": ("a.tar.gz", trained_adapter)}
    uploads = [httpx.post(f"{gateway_url}/v1/adapters", files=files, headers=ADMIN, timeout=120) for _ in range(2)]
    assert [upload.status_code for upload in uploads] == [201, 201], [upload.text for upload in uploads]
    first, second = (int(upload.json()["version"]) for upload in uploads)
    serial = iter(range(1000))
    try:
        # The upload through A activated the second version: B serves it within its refresh (a second).
        eventually(lambda: adapter_version(gateway_b, f"Charged twice, order {next(serial)}.") == second, 10, "B")
        activate(gateway_b, first)  # a rollback through B
        eventually(lambda: adapter_version(gateway_url, f"Charged twice, order {next(serial)}.") == first, 10, "A")
    finally:
        httpx.delete(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60)


def limited_key(url: str, per_minute: int) -> dict[str, str]:
    body = {"name": f"two-gateways-{secrets.token_hex(3)}", "limits": {"requests_per_minute": per_minute}}
    made = httpx.post(f"{url}/v1/admin/keys", json=body, headers=ADMIN, timeout=10)
    assert made.status_code == 201, made.text
    return {"Authorization": f"Bearer {made.json()['key']}"}


def test_a_keys_request_limit_holds_across_both_gateways(
    gateway_url: str, gateway_b: str, sample_knowledge_base: object
) -> None:
    """Both gateways asked for a minute, each about 20 times a second (cache hits after the first): together
    they admit what the key's shared bucket holds (its minute's worth, full at the start) plus what it
    refilled meanwhile, and no more (which gateway wins each token is chance: one may win them all)."""
    per_minute = 12
    key = limited_key(gateway_url, per_minute)
    question = "Is there a fee for international shipping?"
    statuses: dict[str, list[int]] = {gateway_url: [], gateway_b: []}
    started = time.monotonic()

    def known_on_b() -> bool:  # a new key is known to every gateway within a second
        statuses[gateway_b][:] = [ask(gateway_b, question, headers=key).status_code]
        return statuses[gateway_b][0] != 401

    eventually(known_on_b, 5, "the new key on B")  # that first answer was admitted, and counts
    until = time.monotonic() + HAMMER_SECONDS  # from here: B's first answer may itself have taken seconds

    def hammer(url: str) -> None:
        with httpx.Client(timeout=150) as client:
            while time.monotonic() < until:
                body = {"model": "auto", "messages": [{"role": "user", "content": question}], "max_tokens": 16}
                statuses[url].append(client.post(f"{url}/v1/chat/completions", json=body, headers=key).status_code)
                time.sleep(PAUSE_SECONDS)

    threads = [threading.Thread(target=hammer, args=(url,)) for url in statuses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    admitted = {url: seen.count(200) for url, seen in statuses.items()}
    refused = sum(seen.count(429) for seen in statuses.values())
    print(f"admitted {admitted} and refused {refused} in {elapsed:.1f} s at {per_minute} a minute")
    assert all(code in (200, 429) for seen in statuses.values() for code in seen), statuses
    # The bucket was used up (its minute's worth, full at the start) and never more than its refill on top,
    # whichever gateway won each token; both gateways answered, the one that lost the race with 429s.
    assert per_minute <= sum(admitted.values()) <= per_minute + per_minute / 60 * elapsed and refused > 0
    assert all(statuses.values())
