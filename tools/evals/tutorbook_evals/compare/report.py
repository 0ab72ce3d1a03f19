"""What a comparison leaves behind in its output folder: ``comparison.json`` (every figure; the advisor
reads it), ``report.md`` (the table and the recommendation) and PNG plots: quality against prompt tokens
and against latency (one point per path), and the reliability of reported confidences."""

from pathlib import Path

import msgspec

from tutorbook_evals.compare.paths import PATH_TITLES
from tutorbook_gateway.advisor.measured import (
    COMPARISON_FILE,
    LATENCY_PLOT,
    PLOTS,
    RELIABILITY_PLOT,
    TOKENS_PLOT,
    Comparison,
)

REPORT_FILE = "report.md"
COLUMNS = ("accuracy", "macro_f1", "calibration_error", "token_f1", "contains_reference", "yes_no_accuracy",
           "recall_at_k", "gold_cited_first", "abstain_rate", "routed_to_adapter")  # fmt: skip


def table(comparison: Comparison) -> list[str]:
    shown = [column for column in COLUMNS if any(column in result.figures for result in comparison.paths)]
    head = ["path", *shown, "prompt tokens", "completion tokens", "p50 ms", "p95 ms", "errors"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for result in comparison.paths:
        figures = [f"{result.figures[c]:.3f}" if c in result.figures else "" for c in shown]
        cost = [f"{result.prompt_tokens:.0f}", f"{result.completion_tokens:.1f}", f"{result.p50_ms:.0f}"]
        cost += [f"{result.p95_ms:.0f}", f"{result.figures.get('errors', 0):.0f}"]
        lines.append("| " + " | ".join([PATH_TITLES.get(result.path, result.path), *figures, *cost]) + " |")
    return lines


def markdown(comparison: Comparison, recommendation: dict[str, str], notes: list[str]) -> str:
    lines = [
        f"# Comparison: {comparison.dataset}",
        "",
        f"{comparison.examples} held-out examples; main metric **{comparison.metric}**; {comparison.created}.",
        f"Command: `{comparison.command}`",
        "",
        *table(comparison),
        "",
        f"**Recommendation: {recommendation['approach']}.** {recommendation['reason']}.",
        "",
        *[f"- {note}" for note in notes],
        "",
        " ".join(f"![{PLOTS[name]}]({name})" for name in (TOKENS_PLOT, LATENCY_PLOT)),
    ]
    return "\n".join(lines) + "\n"


def scatter(comparison: Comparison, axis: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5.5, 3.8), dpi=100)
    for result in comparison.paths:
        x = result.prompt_tokens if axis == "tokens" else result.p50_ms
        axes.scatter([x or 0.0], [result.quality], s=60)
        axes.annotate(PATH_TITLES.get(result.path, result.path), (x or 0.0, result.quality), fontsize=8,
                      xytext=(4, 4), textcoords="offset points")  # fmt: skip
    axes.set_xlabel("prompt tokens per request" if axis == "tokens" else "p50 latency (ms)")
    axes.set_ylabel(comparison.metric)
    axes.set_ylim(0, 1.05)
    axes.set_title(f"{comparison.dataset}: {comparison.metric} against {'tokens' if axis == 'tokens' else 'latency'}")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def reliability(confidences: dict[str, list[tuple[float, bool]]], path: Path, bins: int = 10) -> None:
    """Per path that reports a confidence: accuracy against mean confidence, bin by bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(4.5, 4.2), dpi=100)
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for name, pairs in confidences.items():
        points = []
        for index in range(bins):
            members = [(c, ok) for c, ok in pairs if index / bins < c <= (index + 1) / bins]
            if members:
                points.append((sum(c for c, _ in members) / len(members), sum(ok for _, ok in members) / len(members)))
        axes.plot([x for x, _ in points], [y for _, y in points], marker="o", label=PATH_TITLES.get(name, name))
    axes.set_xlabel("confidence reported")
    axes.set_ylabel("accuracy")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def write_outputs(
    folder: Path, comparison: Comparison, recommendation: dict[str, str], notes: list[str],
    confidences: dict[str, list[tuple[float, bool]]],
) -> None:  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / COMPARISON_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(comparison), indent=2) + b"\n")
    text = markdown(comparison, recommendation, notes)
    if confidences:
        reliability(confidences, folder / RELIABILITY_PLOT)
        text += f"![{PLOTS[RELIABILITY_PLOT]}]({RELIABILITY_PLOT})\n"
    (folder / REPORT_FILE).write_text(text, encoding="utf-8")
    scatter(comparison, "tokens", folder / TOKENS_PLOT)
    scatter(comparison, "latency", folder / LATENCY_PLOT)
