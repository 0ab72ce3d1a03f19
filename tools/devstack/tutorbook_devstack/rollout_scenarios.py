"""Rollouts driven on a running stack, as ``make bench-rollout`` measures them and the e2e tests check them:
a candidate's canary until the rollout decides, and user latency with and without shadow answers."""

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tutorbook_training.upload import pack

SETTLE_SECONDS = 60.0  # the last evidence is judged within a second or two; a busy machine takes longer
# A user reads an answer before asking again: the lull in which comparisons run (one of a classifier's takes
# about 1.2 s on 2 CPU cores, after a quarter of a second without users), as they do between real users.
THINK_SECONDS = 2.0


ENDED = ("promoted", "rolled_back", "aborted")


@dataclass
class Traffic:
    """What the users saw: which version answered each of them, errors, latencies."""

    versions: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    seconds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"answered_by": {str(v): n for v, n in sorted(self.versions.items())}, "errors": self.errors}


def ask(client: httpx.Client, model: str, question: str, session: str, traffic: Traffic) -> int | None:
    """One conversation's question. Sampled (temperature 1): a classifier's label is scored, not sampled,
    so the answer is the same, but not served from the exact cache when a question comes round again."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": question}],
        "temperature": 1.0,
        "tutorbook": {"session_id": session},
    }
    started = time.perf_counter()
    response = client.post("/v1/chat/completions", json=body)
    if response.status_code != 200:
        traffic.errors += 1
        return None
    traffic.seconds.append(time.perf_counter() - started)
    version = int(response.json()["tutorbook"]["adapter"]["version"])
    traffic.versions[version] += 1
    return version


def start(admin: httpx.Client, name: str, rollout: dict[str, Any]) -> dict[str, Any]:
    response = admin.post(f"/v1/adapters/{name}/rollout", json=rollout)
    if response.status_code != 201:
        raise RuntimeError(f"rollout refused ({response.status_code}): {response.text}")
    started: dict[str, Any] = response.json()
    return started


def shown(admin: httpx.Client, name: str) -> dict[str, Any]:
    response = admin.get(f"/v1/adapters/{name}/rollout")
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def report(now: dict[str, Any], traffic: Traffic) -> str:
    rollout, evidence = now["rollout"], now["evidence"]
    lines = [f"rollout of {rollout['name']}: v{rollout['active_version']} to v{rollout['candidate_version']}: "
             f"{rollout['state']}", f"users answered by: {traffic.as_dict()}"]  # fmt: skip
    for role in ("active", "candidate"):
        figures = evidence[role]
        lines.append(
            f"  {role:9} answers {figures['answers']:4}  failed {figures['failed']:3}  "
            f"p95 {figures['p95_seconds']}  error rate 95% {figures['error_rate_95']}"
        )
    lines.append(f"  answered by both: {evidence['compared']}, agreement {evidence['agreement']} "
                 f"(95% {evidence['agreement_95']})")  # fmt: skip
    decision = rollout.get("decision") or {}
    lines += [f"  decided by {decision.get('by')}: {reason}" for reason in decision.get("reasons", [])]
    return "\n".join(lines)


def upload(admin: httpx.Client, folder: Path, activate: bool = True) -> int:
    """A version stored (and activated, or not: a rollout's candidate); its number."""
    query = "" if activate else "?activate=false"
    response = admin.post(f"/v1/adapters{query}", files={"file": ("adapter.tar.gz", pack(folder))})
    if response.status_code != 201 or response.json()["activated"] is not activate:
        raise RuntimeError(f"upload of {folder} failed ({response.status_code}): {response.text}")
    return int(response.json()["version"])


def texts(path: Path) -> list[str]:
    return [str(json.loads(row)["text"]) for row in path.read_text().splitlines() if row.strip()]


def asked(client: httpx.Client, name: str, questions: list[str], tag: str, think: float = 0.0) -> Traffic:
    """Each question once, as a conversation of its own, ``think`` seconds after the last answer."""
    traffic = Traffic()
    for number, question in enumerate(questions):
        ask(client, name, question, f"{tag}-{number}", traffic)
        time.sleep(think)
    return traffic


def settled(admin: httpx.Client, name: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + SETTLE_SECONDS
    while not done(now := shown(admin, name)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return now


@dataclass
class CanaryRun:
    """A rollout driven until it ended: what it started as, how it ended, which version answered each
    conversation, and what the users saw before and after the decision."""

    started: dict[str, Any]
    ended: dict[str, Any]
    answered: dict[str, int | None] = field(default_factory=dict)
    traffic: Traffic = field(default_factory=Traffic)
    after: Traffic = field(default_factory=Traffic)

    def summary(self) -> dict[str, Any]:
        rollout = self.ended["rollout"]
        return {
            "state": rollout["state"],
            "decision": rollout.get("decision"),
            "evidence": self.ended["evidence"],
            "users": {**self.traffic.as_dict(), "requests": len(self.answered)},
            "after": self.after.as_dict(),
        }


def canary_until_decided(
    users: list[httpx.Client], admin: httpx.Client, name: str, plan: dict[str, Any], questions: list[str], tag: str,
    think: float = THINK_SECONDS,
) -> CanaryRun:  # fmt: skip
    """Start the rollout (through ``admin``), then send each question as a new conversation, through the
    ``users`` clients in turn (gateway replicas), ``think`` seconds apart, until it ends; then the first
    ten again."""
    run = CanaryRun(start(admin, name, plan), {})
    for number, question in enumerate(questions):
        session = f"{tag}-{number}"
        run.answered[session] = ask(users[number % len(users)], name, question, session, run.traffic)
        if shown(admin, name)["rollout"]["state"] in ENDED:
            break
        time.sleep(think)
    run.ended = settled(admin, name, lambda now: now["rollout"]["state"] in ENDED)
    run.after = asked(users[0], name, questions[:10], f"{tag}-after")
    return run


def shadow_side_by_side(
    user: httpx.Client, admin: httpx.Client, name: str, candidate: int, tickets: list[str], criteria: dict[str, Any]
) -> dict[str, Any]:
    """The same tickets, one at a time, ``THINK_SECONDS`` apart: first with no rollout, then with every
    answer shadowed by the candidate (evidence only, no decision); users' latencies side by side, and what
    the shadow did."""
    before = outcomes(admin, name)
    alone = asked(user, name, tickets, "alone", THINK_SECONDS)
    start(admin, name, {"version": candidate, "shadow_fraction": 1.0, "criteria": {**criteria, "auto": False}})
    shadowed = asked(user, name, tickets, "shadowed", THINK_SECONDS)
    now = settled(admin, name, lambda now: now["evidence"]["active"]["answers"] >= len(tickets))
    admin.post(f"/v1/adapters/{name}/rollout/abort")
    after = outcomes(admin, name)
    comparisons = {outcome: count - before.get(outcome, 0) for outcome, count in after.items()}
    return {"alone": alone, "shadowed": shadowed, "evidence": now["evidence"], "comparisons": comparisons}


def outcomes(client: httpx.Client, name: str) -> dict[str, int]:
    """The gateway's count of comparisons by outcome (same, different, dropped, gave_way) for ``name``."""
    found: dict[str, int] = {}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("tutorbook_gateway_rollout_comparisons_total{") and f'adapter="{name}"' in line:
            outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
            found[outcome] = found.get(outcome, 0) + int(float(line.split()[-1]))
    return found
