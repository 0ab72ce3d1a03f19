"""What a load level and a soak come to: throughput, latency percentiles, what every request got (and
which of those are errors), memory; printed as a table, plotted, and kept as JSON."""

from collections import Counter
from pathlib import Path
from typing import Any

from tutorbook_devstack.bench_report import summary
from tutorbook_devstack.load.driver import Outcome
from tutorbook_devstack.load.memory import MemorySampler

# Past saturation the stack may refuse, but only in these ways: with a status that says so and when to retry.
REFUSALS_WITH_RETRY_AFTER = (429, 503)


def is_refusal(outcome: Outcome) -> bool:
    return outcome.status in REFUSALS_WITH_RETRY_AFTER and outcome.retry_after is not None


def is_error(outcome: Outcome) -> bool:
    """Anything but a whole answer or a refusal with ``Retry-After`` (a 500, a 504, a cut stream, no answer)."""
    if outcome.status == 200:
        return not outcome.complete
    return not is_refusal(outcome)


def level_figures(outcomes: list[Outcome]) -> dict[str, Any]:
    answered = [o for o in outcomes if o.status == 200 and o.complete]
    wall = max((o.started + o.milliseconds / 1000 for o in outcomes), default=0.0)
    figures: dict[str, Any] = {
        "requests": len(outcomes),
        "answered": len(answered),
        "requests_per_second": len(answered) / wall if wall else 0.0,
        "statuses": dict(Counter(str(o.status) for o in outcomes)),
        "refused_with_retry_after": sum(1 for o in outcomes if is_refusal(o)),
        "errors": sum(1 for o in outcomes if is_error(o)),
        "error_examples": sorted({f"{o.status} {o.kind}: {o.detail[:160]}" for o in outcomes if is_error(o)})[:5],
        "latency_ms": summary([o.milliseconds for o in answered]) if answered else {},
        "by_kind_p50_ms": {},
        "by_kind_p95_ms": {},
    }
    for label in sorted({o.label for o in answered}):
        of_kind = summary([o.milliseconds for o in answered if o.label == label])
        figures["by_kind_p50_ms"][label], figures["by_kind_p95_ms"][label] = of_kind["p50"], of_kind["p95"]
    streams = [o.first_token_milliseconds for o in answered if o.kind == "stream"]
    if streams:
        figures["stream_first_token_ms"] = summary(streams)
    return figures


def print_levels(levels: dict[int, dict[str, Any]]) -> None:
    print(
        f"\n{'concurrency':>11}{'requests':>10}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'429/503+RA':>12}{'errors':>8}"
    )
    for concurrency, figures in levels.items():
        latency = figures["latency_ms"] or {"p50": 0.0, "p95": 0.0, "p99": 0.0}
        print(
            f"{concurrency:>11}{figures['requests']:>10}{figures['requests_per_second']:>8.2f}"
            f"{latency['p50']:>9.0f}{latency['p95']:>9.0f}{latency['p99']:>9.0f}"
            f"{figures['refused_with_retry_after']:>12}{figures['errors']:>8}"
        )
        for example in figures["error_examples"]:
            print(f"{'':>11}  {example}")


def print_memory(memory: dict[str, dict[str, float]]) -> None:
    header = f"{'memory (MiB)':<12}{'first':>8}{'peak':>8}{'last':>8}{'slope/min':>11}{'2nd half/min':>14}"
    print(f"\n{header}{'last third/min':>16}")
    for service, row in memory.items():
        print(
            f"{service:<12}{row['first_mib']:>8.0f}{row['peak_mib']:>8.0f}{row['last_mib']:>8.0f}"
            f"{row['slope_mib_per_min']:>11.2f}{row['second_half_slope_mib_per_min']:>14.2f}"
            f"{row['last_third_slope_mib_per_min']:>16.2f}"
        )


def plot_memory(sampler: MemorySampler, title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4.5))
    for service in sampler.pids:
        seconds, mib = sampler.series(service)
        axis.plot([t / 60 for t in seconds], mib, label=service)
    axis.set_xlabel("minutes")
    axis.set_ylabel("resident memory (MiB, process and children)")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
