"""Charts of the retrieval evaluation and benchmark results (PNG), for the results people compare side by side.

matplotlib is a dependency of these tools (tools/evals/pyproject.toml), not of the retriever: it is imported
when a chart is drawn, and the Agg backend is chosen then, not at import time.
"""

from pathlib import Path

from tutorbook_evals.retrieval_scores import CUTOFFS, RetrievalScores


def plot_retrieval(title: str, results: dict[str, RetrievalScores], path: Path) -> Path:
    """Grouped bars: recall@k and MRR for each retrieval method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [f"R@{k}" for k in CUTOFFS] + ["MRR@10"]
    labels = list(results)
    width = 0.8 / len(labels)
    figure, axes = plt.subplots(figsize=(8, 4.5))
    for index, label in enumerate(labels):
        scores = results[label]
        values = [scores.recall[k] for k in CUTOFFS] + [scores.mrr]
        positions = [metric + index * width for metric in range(len(metrics))]
        bars = axes.bar(positions, values, width, label=label)
        axes.bar_label(bars, fmt="%.2f", fontsize=7)
    axes.set_xticks([metric + width * (len(labels) - 1) / 2 for metric in range(len(metrics))], metrics)
    axes.set_ylim(0, 1.18)
    axes.set_title(title)
    axes.legend(loc="upper center", ncol=len(labels), fontsize=8, frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_search_latency(rows: dict[int, dict[str, tuple[float, float]]], path: Path) -> Path:
    """p50 and p95 search latency against index size, one line per backend (log scales)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = list(dict.fromkeys(name for by_backend in rows.values() for name in by_backend))
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name in series:  # a backend is drawn at the sizes it was searched at
        sizes = sorted(size for size, by_backend in rows.items() if name in by_backend)
        line = axes.plot(sizes, [rows[size][name][0] for size in sizes], marker="o", label=f"{name} p50")
        axes.plot(sizes, [rows[size][name][1] for size in sizes], linestyle="--", color=line[0].get_color(),
                  label=f"{name} p95")  # fmt: skip
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("chunks in the index")
    axes.set_ylabel("ms per search, HTTP and query embedding included")
    axes.set_title("Hybrid search through the retriever: Qdrant Edge and local mode")
    axes.legend(fontsize=8)
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
