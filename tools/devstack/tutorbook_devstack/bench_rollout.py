"""``python -m tutorbook_devstack.bench_rollout`` (``make bench-rollout``): adapter rollouts on the real stack,
measured, written to ``data/bench/rollout.json`` (docs/adapters.md quotes it).

Three versions of one support-triage LoRA classifier (trained here once, then kept in
``data/rollout-adapters/``): the active one (3 epochs), a candidate trained on the same texts with their
labels shuffled among them (3 epochs), and one trained on the same data for 4 epochs. Traffic is the 120
support-triage tickets, each a conversation of its own, one at a time:

1. the shuffled candidate as a 30% canary, until the rollout decides;
2. the 4-epoch candidate as a 50% canary with every answer shadowed, until the rollout decides;
3. users' latency, the 40 test tickets alone, then the same with every answer shadowed by the candidate.

Users think 2 s between questions (rollout_scenarios.THINK_SECONDS): comparisons run in such lulls.
"""

import argparse
import signal
import tempfile
from pathlib import Path
from typing import Any

import httpx

from tutorbook_devstack.__main__ import stop_on_sigterm
from tutorbook_devstack.bench_report import write_results
from tutorbook_devstack.load.__main__ import ADMIN, USER_KEYS, stack_config
from tutorbook_devstack.load.adapter import RolloutVersions, train_rollout_versions
from tutorbook_devstack.rollout_scenarios import canary_until_decided, report, shadow_side_by_side, texts, upload
from tutorbook_devstack.stack import running_stack
from tutorbook_gateway.rollouts.stats import percentile

SAMPLES = Path("samples")
ADAPTERS = Path("data/rollout-adapters")
NAME = "bench-rollout"
TICKETS = SAMPLES / "support_triage"
# Small enough for a demonstration; the defaults ask for 50 answers (docs/adapters.md).
CRITERIA = {"min_requests": 20, "min_comparisons": 20, "min_latencies": 10, "min_agreement": 0.6, "latency_margin": 1.0}


def trained(folder: Path = ADAPTERS) -> dict[str, Path]:
    """The three versions, trained once (about five minutes on 2 CPU cores), then reused."""
    versions = RolloutVersions.under(folder)
    folders = {"active": versions.active, "shuffled": versions.shuffled, "more-epochs": versions.more_epochs}
    if not all((path / "adapter_config.json").exists() for path in folders.values()):
        train_rollout_versions(SAMPLES, folder, NAME)
    return folders


def canary(
    user: httpx.Client, admin: httpx.Client, folders: dict[str, Path], candidate: str, plan: dict[str, Any]
) -> dict[str, Any]:
    upload(admin, folders["active"])
    version = upload(admin, folders[candidate], activate=False)
    questions = texts(TICKETS / "test.jsonl") + texts(TICKETS / "train.jsonl")
    run = canary_until_decided(
        [user], admin, NAME, {"version": version, **plan, "criteria": CRITERIA}, questions, candidate
    )
    print(report(run.ended, run.traffic))
    admin.delete(f"/v1/adapters/{NAME}")
    return {"plan": plan, **run.summary()}


def latency(user: httpx.Client, admin: httpx.Client, folders: dict[str, Path]) -> dict[str, Any]:
    upload(admin, folders["active"])
    version = upload(admin, folders["more-epochs"], activate=False)
    measured = shadow_side_by_side(user, admin, NAME, version, texts(TICKETS / "test.jsonl"), CRITERIA)
    admin.delete(f"/v1/adapters/{NAME}")
    figures = {side: latencies(measured[side].seconds) for side in ("alone", "shadowed")}
    print(f"users, one at a time: alone {figures['alone']}, every answer shadowed {figures['shadowed']}")
    return {**figures, "evidence": measured["evidence"], "comparisons": measured["comparisons"]}


def latencies(seconds: list[float]) -> dict[str, Any]:
    return {"requests": len(seconds), "p50_seconds": percentile(seconds, 0.5), "p95_seconds": percentile(seconds, 0.95)}


def client(url: str, key: str) -> httpx.Client:
    """One client per key for the whole run (its connections reused)."""
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=600)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tutorbook_devstack.bench_rollout", description=__doc__)
    parser.add_argument("--json", type=Path, default=Path("data/bench/rollout.json"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, stop_on_sigterm)  # a killed run still stops its stack
    folders = trained()
    with (
        tempfile.TemporaryDirectory(prefix="tutorbook-rollout-") as tmp,
        running_stack(stack_config(Path(tmp))) as stack,
        client(stack.config.gateway_url, USER_KEYS[0]) as user,
        client(stack.config.gateway_url, ADMIN) as admin,
    ):
        results = {
            "criteria": CRITERIA,
            "shuffled_labels": canary(user, admin, folders, "shuffled", {"canary_fraction": 0.3}),
            "more_epochs": canary(
                user, admin, folders, "more-epochs", {"canary_fraction": 0.5, "shadow_fraction": 1.0}
            ),
            "shadow_latency": latency(user, admin, folders),
        }
    print(f"wrote {write_results('rollout', results, args.json)}")


if __name__ == "__main__":
    main()
