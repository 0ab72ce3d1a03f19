"""The plot ``bench_all`` draws itself: throughput and latency by concurrency, from the load benchmark's
JSON (the other benchmarks draw their own). matplotlib is imported, with the Agg backend, when it draws."""

from pathlib import Path
from typing import Any

from tutorbook_devstack.bench_sections import PERCENTILES


def plot_levels(levels: dict[str, dict[str, Any]], title: str, path: Path) -> Path:
    """Answered requests per second (left) and latency percentiles (right) against concurrency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = sorted(levels.items(), key=lambda item: int(item[0]))
    concurrency = [int(level) for level, _ in ordered]
    figure, (rate, latency) = plt.subplots(1, 2, figsize=(10, 4.2))
    rate.plot(concurrency, [figures["requests_per_second"] for _, figures in ordered], marker="o")
    for level, figures in ordered:
        if figures.get("errors"):
            point = (int(level), figures["requests_per_second"])
            rate.annotate(f"{figures['errors']} errors", point, xytext=(6, 6), textcoords="offset points", color="red")
    rate.set_ylabel("answered requests per second")
    for percentile in PERCENTILES:
        points = [(int(level), f["latency_ms"][percentile] / 1000) for level, f in ordered if f.get("latency_ms")]
        latency.plot([c for c, _ in points], [s for _, s in points], marker="o", label=percentile)
    latency.set_ylabel("seconds per answer")
    latency.legend()
    for axis in (rate, latency):
        axis.set_xscale("log", base=2)
        axis.set_xticks(concurrency, [str(c) for c in concurrency])
        axis.set_xlabel("concurrent users")
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
