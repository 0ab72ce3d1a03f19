"""``python -m tutorbook_devstack.rollout_demo``: roll out a stored candidate version of an adapter on a
running stack and send it traffic until the rollout decides (or the questions run out), then print what
happened: the evidence for each version side by side, and the decision with its reasons.

Each question is a conversation of its own (a session), so the canary takes its share of conversations.
``make demo-adapter`` runs it on the support-triage adapter's second version."""

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tutorbook_config.local_keys import MissingKeyError, admin_key

ENDED = ("promoted", "rolled_back", "aborted")


@dataclass
class Traffic:
    """What the users saw: which version answered each of them, errors, latencies."""

    versions: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    seconds: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"answered_by": {str(v): n for v, n in sorted(self.versions.items())}, "errors": self.errors}


def questions_of(path: Path) -> list[str]:
    return [str(json.loads(line)["text"]) for line in path.read_text().splitlines() if line.strip()]


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


def newest_candidate(admin: httpx.Client, name: str) -> int:
    described = admin.get(f"/v1/adapters/{name}")
    described.raise_for_status()
    waiting = [version["version"] for version in described.json()["versions"] if not version["active"]]
    if not waiting:
        sys.exit(f"{name} has no stored version besides the active one: upload one with --no-activate")
    return int(max(waiting))


def drive(
    user: httpx.Client, admin: httpx.Client, name: str, questions: list[str], rounds: int, tag: str = "demo"
) -> tuple[dict[str, Any], Traffic]:
    """Ask ``questions`` (each a new conversation) up to ``rounds`` times over, until the rollout ends."""
    traffic = Traffic()
    for number in range(rounds * len(questions)):
        ask(user, name, questions[number % len(questions)], f"{tag}-{number}", traffic)
        if number % 5 == 4 and shown(admin, name)["rollout"]["state"] in ENDED:
            break
    deadline = time.monotonic() + 30  # the last evidence is judged within a second or two
    while (now := shown(admin, name))["rollout"]["state"] not in ENDED and time.monotonic() < deadline:
        time.sleep(1)
    return now, traffic


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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tutorbook_devstack.rollout_demo", description=__doc__)
    parser.add_argument("name")
    parser.add_argument("version", type=int, nargs="?", help="the candidate (default: the newest stored, not active)")
    parser.add_argument("--questions", type=Path, default=Path("samples/support_triage/test.jsonl"))
    parser.add_argument("--canary", type=float, default=0.3)
    parser.add_argument("--shadow", type=float, default=1.0)
    parser.add_argument("--min-requests", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5, help="times over the questions at most")
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--json", type=Path, help="write the rollout and the traffic here")
    parser.add_argument("--key", help="an admin key (default: as tutorbook-upload-adapter finds it)")
    args = parser.parse_args()
    try:
        key = admin_key(args.key, os.environ)  # an admin key may chat too: it asks as the users would
    except MissingKeyError as exc:
        sys.exit(str(exc))
    least = args.min_requests
    criteria = {"min_requests": least, "min_comparisons": least, "min_latencies": least}
    plan = {
        "version": args.version,
        "canary_fraction": args.canary,
        "shadow_fraction": args.shadow,
        "criteria": criteria,
    }
    with httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {key}"}, timeout=300) as client:
        plan["version"] = args.version or newest_candidate(client, args.name)
        start(client, args.name, plan)
        now, traffic = drive(client, client, args.name, questions_of(args.questions), args.rounds)
    print(report(now, traffic))
    if args.json:
        args.json.write_text(json.dumps({**now, "traffic": traffic.as_dict()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
