"""The rollout figures in docs/adapters.md, from ``make bench-rollout``'s ``data/bench/rollout.json``."""

from typing import Any

from tutorbook_devstack.bench_sections import table


def interval(pair: list[float] | None) -> str:
    return "n/a" if not pair else f"{pair[0]:.2f}-{pair[1]:.2f}"


def seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def decided_by(who: str | None) -> str:
    return "the evidence" if who == "auto" else str(who)


def canary_rows(label: str, run: dict[str, Any]) -> list[list[str]]:
    evidence, users = run["evidence"], run["users"]
    decision = run["decision"] or {}
    answered = ", ".join(f"v{version}: {count}" for version, count in users["answered_by"].items())
    return [
        [label, "how it ended", f"{run['state'].replace('_', ' ')}, by {decided_by(decision.get('by'))}"],
        ["", "users' requests until then (answered by)", f"{users['requests']} ({answered}); {users['errors']} errors"],
        ["", "answers by the active / the candidate (to users or in shadow)",
         f"{evidence['active']['answers']} / {evidence['candidate']['answers']}"],
        ["", "p95 of answers to users, the active / the candidate",
         f"{seconds(evidence['active']['p95_seconds'])} / {seconds(evidence['candidate']['p95_seconds'])}"],
        ["", "answered by both, the same label (95% interval)",
         f"{evidence['compared']}, {evidence['agreement'] or 0:.0%} ({interval(evidence['agreement_95'])})"],
        ["", "the reason", "; ".join(decision.get("reasons") or [])],
    ]  # fmt: skip


def rollout(document: dict[str, Any]) -> list[str]:
    figures = document["figures"]
    shuffled, more = figures["shuffled_labels"], figures["more_epochs"]
    rows = [
        *canary_rows(f"labels shuffled, {shuffled['plan']['canary_fraction']:.0%} canary", shuffled),
        *canary_rows(f"4 epochs, {more['plan']['canary_fraction']:.0%} canary, every answer shadowed", more),
    ]
    latency = figures["shadow_latency"]
    alone, shadowed = latency["alone"], latency["shadowed"]
    outcomes = latency["comparisons"]
    compared = outcomes.get("same", 0) + outcomes.get("different", 0)
    shadow = f"{compared}, {outcomes.get('gave_way', 0)}, {outcomes.get('dropped', 0)}"
    side_by_side = [
        ["alone", str(alone["requests"]), seconds(alone["p50_seconds"]), seconds(alone["p95_seconds"]), "-"],
        ["every answer shadowed", str(shadowed["requests"]), seconds(shadowed["p50_seconds"]),
         seconds(shadowed["p95_seconds"]), shadow],
    ]  # fmt: skip
    return [
        *table(["candidate", "", "measured"], rows, left=3),
        "",
        "Users' latency, the 40 test tickets one at a time, 2 s apart, without and with a shadow candidate (the "
        "same tickets; not served from the cache):",
        "",
        *table(
            ["users' requests", "requests", "p50", "p95", "shadow answers: kept, gave way, dropped"],
            side_by_side,
            left=1,
        ),
    ]
