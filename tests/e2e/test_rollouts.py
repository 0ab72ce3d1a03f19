"""Adapter rollouts on the real stack (vLLM answering three versions of one LoRA classifier): a candidate
trained on shuffled labels is rolled back during its canary, with only the canary's conversations ever
answered by it and no user seeing an error; a candidate trained for more epochs is promoted, by one of
two gateway replicas; and user latency with and without shadow traffic, side by side."""

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SAMPLES, eventually
from tests.e2e.conftest import ADMIN_KEY, API_KEY, ROLLOUT_ADAPTER, RolloutAdapters, another_gateway
from tutorbook_devstack.rollout_demo import Traffic, ask, report, shown, start
from tutorbook_devstack.stack import Stack
from tutorbook_gateway.access.directory import key_fingerprint
from tutorbook_gateway.rollouts.model import Criteria, Rollout
from tutorbook_gateway.rollouts.stats import percentile
from tutorbook_training.upload import pack

pytestmark = pytest.mark.e2e
USER = {"Authorization": f"Bearer {API_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
# Judged on as few requests as a test can afford; the defaults ask for 50 (docs/adapters.md).
CRITERIA = {"min_requests": 20, "min_comparisons": 20, "min_latencies": 10, "min_agreement": 0.6, "latency_margin": 1.0}


def texts(split: str) -> list[str]:
    rows = (SAMPLES / "support_triage" / f"{split}.jsonl").read_text().splitlines()
    return [str(json.loads(row)["text"]) for row in rows if row.strip()]


# Live traffic: the tickets of the test split, then those of the training split (what the adapters were
# trained on: a rollout's agreement is not a figure of accuracy, and real traffic resembles the training data).
QUESTIONS = texts("test") + texts("train")


def upload(url: str, folder: Path, activate: bool = True) -> int:
    query = "" if activate else "?activate=false"
    response = httpx.post(
        f"{url}/v1/adapters{query}", files={"file": ("a.tar.gz", pack(folder))}, headers=ADMIN, timeout=300
    )
    assert response.status_code == 201, response.text
    assert response.json()["activated"] is activate
    return int(response.json()["version"])


@pytest.fixture
def clients(gateway_url: str) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    with (
        httpx.Client(base_url=gateway_url, headers=USER, timeout=300) as user,
        httpx.Client(base_url=gateway_url, headers=ADMIN, timeout=300) as admin,
    ):
        yield user, admin
    httpx.delete(f"{gateway_url}/v1/adapters/{ROLLOUT_ADAPTER}", headers=ADMIN, timeout=60)


def eventually_value(read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """``read()`` once ``done`` holds for it (within a minute), or the test fails."""
    latest: dict[str, Any] = {}

    def holds() -> bool:
        nonlocal latest
        latest = read()
        return done(latest)

    eventually(holds, 60, "the rollout's state", every=0.5)
    return latest


def asked(client: httpx.Client, questions: list[str], tag: str) -> Traffic:
    """Each question once, as a conversation of its own."""
    traffic = Traffic()
    for number, question in enumerate(questions):
        ask(client, ROLLOUT_ADAPTER, question, f"{tag}-{number}", traffic)
    return traffic


def decided(admin: httpx.Client) -> dict[str, Any]:
    """The rollout once it has ended (its last evidence is judged within a second or two)."""
    return eventually_value(lambda: shown(admin, ROLLOUT_ADAPTER), lambda now: now["rollout"]["state"] != "running")


def canary_sessions(rollout: dict[str, Any], sessions: int, tag: str) -> set[str]:
    """The conversations the canary takes, as the gateway draws them (a stable hash per conversation)."""
    drawn = Rollout(**{**rollout, "criteria": Criteria(**rollout["criteria"]), "decision": None})
    owner = key_fingerprint(API_KEY)
    return {f"{tag}-{n}" for n in range(sessions) if drawn.answers_canary(f"session:{owner}:{tag}-{n}")}


def test_a_candidate_trained_on_shuffled_labels_is_rolled_back_during_its_canary(
    clients: tuple[httpx.Client, httpx.Client], gateway_url: str, rollout_adapters: RolloutAdapters
) -> None:
    user, admin = clients
    active = upload(gateway_url, rollout_adapters.active)
    candidate = upload(gateway_url, rollout_adapters.shuffled, activate=False)
    started = start(admin, ROLLOUT_ADAPTER, {"version": candidate, "canary_fraction": 0.3, "criteria": CRITERIA})
    answered: dict[str, int | None] = {}
    traffic = Traffic()
    for number, question in enumerate(QUESTIONS):
        answered[f"shuffled-{number}"] = ask(user, ROLLOUT_ADAPTER, question, f"shuffled-{number}", traffic)
        if number % 5 == 4 and shown(admin, ROLLOUT_ADAPTER)["rollout"]["state"] != "running":
            break
    now = decided(admin)
    after = asked(user, QUESTIONS[:10], "after")
    print(report(now, traffic))
    rollout = now["rollout"]
    assert rollout["state"] == "rolled_back" and rollout["decision"]["by"] == "auto", rollout
    assert "agreement" in rollout["decision"]["reasons"][0]
    assert traffic.errors == 0 and after.errors == 0  # no user saw an error, before or after
    # only the canary's conversations were answered by the bad version, each of them by it alone
    canary = canary_sessions(started, len(QUESTIONS), "shuffled")
    assert {session for session, version in answered.items() if version == candidate} <= canary
    assert set(answered) - canary <= {session for session, version in answered.items() if version == active}
    assert after.versions == {active: 10}  # the active version answers everyone once it is rolled back


def decisions_on(url: str) -> float:
    """How many rollouts of the adapter this gateway replica decided to promote (its own metric)."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    series = f'tutorbook_gateway_rollout_decisions_total{{adapter="{ROLLOUT_ADAPTER}",state="promoted"}}'
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(series))


def test_a_candidate_trained_for_more_epochs_is_promoted_by_one_of_two_gateways(
    stack: Stack, clients: tuple[httpx.Client, httpx.Client], gateway_url: str, rollout_adapters: RolloutAdapters
) -> None:
    user, admin = clients
    upload(gateway_url, rollout_adapters.active)
    candidate = upload(gateway_url, rollout_adapters.more_epochs, activate=False)
    with (
        another_gateway(stack, "gateway-rollout", {}) as url_b,
        httpx.Client(base_url=url_b, headers=USER, timeout=300) as user_b,
        httpx.Client(base_url=url_b, headers=ADMIN, timeout=300) as admin_b,
    ):
        plan = {"version": candidate, "canary_fraction": 0.5, "shadow_fraction": 1.0, "criteria": CRITERIA}
        start(admin_b, ROLLOUT_ADAPTER, plan)  # started through B, traffic through both
        traffic = Traffic()
        for number in range(3 * len(QUESTIONS)):
            client = user if number % 2 else user_b
            ask(client, ROLLOUT_ADAPTER, QUESTIONS[number % len(QUESTIONS)], f"more-{number}", traffic)
            if number % 5 == 4 and shown(admin, ROLLOUT_ADAPTER)["rollout"]["state"] != "running":
                break
        now = decided(admin)
        after = asked(user_b, QUESTIONS[:4], "more-after")
        print(report(now, traffic))
        rollout = now["rollout"]
        assert rollout["state"] == "promoted" and rollout["decision"]["by"] == "auto", rollout
        assert traffic.errors == 0 and after.versions == {candidate: 4}
        for client in (admin, admin_b):  # both replicas serve the promoted version
            assert client.get(f"/v1/adapters/{ROLLOUT_ADAPTER}").json()["active_version"] == candidate
        assert decisions_on(gateway_url) + decisions_on(url_b) == 1  # decided once, by one of them
        audit = admin.get("/v1/admin/audit", params={"action": "adapter.rollout.promoted"}).json()["data"]
        assert [entry["actor"] for entry in audit] == ["tutorbook:rollout"]


def latencies(client: httpx.Client, questions: list[str], tag: str) -> list[float]:
    traffic = asked(client, questions, tag)
    assert traffic.errors == 0
    return traffic.seconds


def test_user_latency_with_and_without_a_shadow_candidate_side_by_side(
    clients: tuple[httpx.Client, httpx.Client], gateway_url: str, rollout_adapters: RolloutAdapters
) -> None:
    """The shadow answers only in a generation slot no user waits for, at a lower vLLM priority: measured
    here, not asserted (a speed is a benchmark's to judge): the same 20 tickets, alone and with every
    answer shadowed."""
    user, admin = clients
    upload(gateway_url, rollout_adapters.active)
    candidate = upload(gateway_url, rollout_adapters.more_epochs, activate=False)
    tickets = texts("test")[:20]
    alone = latencies(user, tickets, "alone")
    criteria = {**CRITERIA, "auto": False}  # evidence only: nothing decided mid-measurement
    start(admin, ROLLOUT_ADAPTER, {"version": candidate, "shadow_fraction": 1.0, "criteria": criteria})
    shadowed = latencies(user, tickets, "shadowed")
    now = eventually_value(  # the evidence is written once each answer has left
        lambda: shown(admin, ROLLOUT_ADAPTER), lambda now: now["evidence"]["active"]["answers"] == len(tickets)
    )
    print(
        f"user p50/p95 without shadow {percentile(alone, 0.5):.3f}/{percentile(alone, 0.95):.3f} s, "
        f"with every answer shadowed {percentile(shadowed, 0.5):.3f}/{percentile(shadowed, 0.95):.3f} s; "
        f"answered by both: {now['evidence']['compared']} of {len(tickets)}"
    )
    assert now["evidence"]["active"]["answers"] == len(tickets)  # users got the active version only
    assert now["evidence"]["candidate"]["answers"] >= 1  # the shadow answered in the gaps
    assert admin.post(f"/v1/adapters/{ROLLOUT_ADAPTER}/rollout/abort").json()["state"] == "aborted"
