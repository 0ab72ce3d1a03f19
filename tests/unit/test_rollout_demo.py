"""``make demo-adapter``'s rollout driver against a gateway that answers as a real one does: it starts the
rollout of the newest stored candidate, sends conversations until the rollout ends, and says what happened."""

import json
from typing import Any

import httpx
import pytest

from tutorbook_devstack.rollout_demo import newest_candidate
from tutorbook_devstack.rollout_scenarios import canary_until_decided, report

ENDED_AFTER = 6  # the rollout "decides" once the gateway has answered this many questions


class Gateway:
    """The routes the driver calls, answered from memory."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []
        self.state = "running"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/adapters/triage":
            versions = [
                {"version": 1, "active": True},
                {"version": 2, "active": False},
                {"version": 3, "active": False},
            ]
            return httpx.Response(200, json={"versions": versions})
        if request.url.path == "/v1/adapters/triage/rollout" and request.method == "POST":
            return httpx.Response(201, json={"id": "r1", **json.loads(request.content)})
        if request.url.path == "/v1/adapters/triage/rollout":
            return httpx.Response(200, json=self.shown())
        body = json.loads(request.content)
        self.asked.append(body)
        if len(self.asked) >= ENDED_AFTER:
            self.state = "promoted"
        version = 3 if len(self.asked) % 2 else 1
        return httpx.Response(200, json={"tutorbook": {"adapter": {"name": "triage", "version": version}}})

    def shown(self) -> dict[str, object]:
        figures = {"answers": 3, "failed": 0, "p95_seconds": 0.5, "error_rate_95": [0.0, 0.56]}
        decision = {"by": "auto", "reasons": ["enough evidence"]} if self.state != "running" else None
        return {
            "rollout": {"name": "triage", "active_version": 1, "candidate_version": 3, "state": self.state,
                        "decision": decision},
            "evidence": {"active": figures, "candidate": figures, "compared": 3, "agreement": 1.0,
                         "agreement_95": [0.44, 1.0]},
        }  # fmt: skip


@pytest.fixture
def gateway() -> Gateway:
    return Gateway()


def test_the_demo_rolls_out_the_newest_candidate_until_the_rollout_ends(gateway: Gateway) -> None:
    with httpx.Client(base_url="http://gateway", transport=httpx.MockTransport(gateway)) as client:
        version = newest_candidate(client, "triage")
        plan = {"version": version, "canary_fraction": 0.3}
        run = canary_until_decided([client], client, "triage", plan, 5 * ["a", "b", "c"], "demo", think=0)
    assert version == 3 and run.started["version"] == 3
    asked = gateway.asked[:ENDED_AFTER]  # it stopped once the rollout had ended, then asked ten more
    assert len(gateway.asked) == ENDED_AFTER + 10
    assert [body["tutorbook"]["session_id"] for body in asked] == [f"demo-{n}" for n in range(ENDED_AFTER)]
    assert all(body["temperature"] == 1.0 for body in gateway.asked)  # never served from the exact cache
    assert run.traffic.as_dict() == {"answered_by": {"1": 3, "3": 3}, "errors": 0}
    printed = report(run.ended, run.traffic)
    assert "v1 to v3: promoted" in printed and "decided by auto: enough evidence" in printed
