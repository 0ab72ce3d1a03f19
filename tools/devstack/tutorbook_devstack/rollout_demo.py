"""``python -m tutorbook_devstack.rollout_demo``: roll out a stored candidate version of an adapter on a
running stack and send it traffic until the rollout decides (or the questions run out), then print what
happened: the evidence for each version side by side, and the decision with its reasons.

Each question is a conversation of its own (a session), so the canary takes its share of conversations.
``make demo-adapter`` runs it on the support-triage adapter's second version."""

import argparse
import json
import os
import sys
from pathlib import Path

import httpx

from tutorbook_config.local_keys import MissingKeyError, admin_key
from tutorbook_devstack.rollout_scenarios import canary_until_decided, report


def questions_of(path: Path) -> list[str]:
    return [str(json.loads(line)["text"]) for line in path.read_text().splitlines() if line.strip()]


def newest_candidate(admin: httpx.Client, name: str) -> int:
    described = admin.get(f"/v1/adapters/{name}")
    described.raise_for_status()
    waiting = [version["version"] for version in described.json()["versions"] if not version["active"]]
    if not waiting:
        sys.exit(f"{name} has no stored version besides the active one: upload one with --no-activate")
    return int(max(waiting))


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
        questions = args.rounds * questions_of(args.questions)
        run = canary_until_decided([client], client, args.name, plan, questions, "demo")
    print(report(run.ended, run.traffic))
    if args.json:
        args.json.write_text(json.dumps(run.summary(), indent=2) + "\n")


if __name__ == "__main__":
    main()
