"""The measured side of the advice: a ``tutorbook-compare`` result for the user's dataset.

``tutorbook-compare`` writes ``comparison.json`` (:class:`Comparison`); the advisor reads it, finds the path
that measured best, and confirms or overrules the questionnaire's approach with the figures.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

COMPARISON_FILE = "comparison.json"
# The plots tutorbook-compare draws beside it, and what each shows (the page shows them with the advice).
TOKENS_PLOT, LATENCY_PLOT, RELIABILITY_PLOT = "quality-tokens.png", "quality-latency.png", "reliability.png"
PLOTS = {
    TOKENS_PLOT: "quality against prompt tokens",
    LATENCY_PLOT: "quality against latency",
    RELIABILITY_PLOT: "reliability of the reported confidence",
}
TIE_POINTS = 0.02  # within two points of the best, the path with the shorter prompt wins
APPROACH_OF_PATH = {
    "zero_shot": "prompting",
    "few_shot": "prompting",
    "rag": "rag",
    "adapter": "adapter",
    "adapter_rag": "adapter_rag",
    "embedding_classifier": "embedding_classifier",  # a tutor too: no prompt at all, served without the generator
}


class PathResult(msgspec.Struct, kw_only=True):
    path: str
    quality: float  # the comparison's main metric, 0..1
    prompt_tokens: float | None = None  # per request
    completion_tokens: float | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    figures: dict[str, float] = msgspec.field(default_factory=dict)


class Comparison(msgspec.Struct, kw_only=True):
    dataset: str
    task: str  # "classification" or "qa"
    metric: str
    examples: int
    paths: list[PathResult]
    created: str = ""
    command: str = ""
    commit: str = ""  # the code measured (tutorbook-compare's checkout), when known
    recommendation: dict[str, str] = msgspec.field(default_factory=dict)  # as tutorbook-compare wrote it


@dataclass(frozen=True)
class Measured:
    dataset: str
    approach: str
    path: str
    reason: str
    comparison: Comparison

    def as_dict(self, verdict: str) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "approach": self.approach,
            "best_path": self.path,
            "verdict": verdict,
            "reason": self.reason,
            "metric": self.comparison.metric,
            "paths": msgspec.to_builtins(self.comparison.paths),
        }


def read_comparison(path: Path) -> Comparison:
    """``path`` is a ``comparison.json`` or the folder that holds one."""
    file = path / COMPARISON_FILE if path.is_dir() else path
    return msgspec.json.decode(file.read_bytes(), type=Comparison)


def tokens(result: PathResult) -> float:
    return result.prompt_tokens if result.prompt_tokens is not None else float("inf")


def describe_margin(best: PathResult, other: PathResult) -> str:
    points = round((best.quality - other.quality) * 100, 1)  # 7.5, not "+7": one example of 40 is 2.5 points
    text = f"{points:+g} points over {other.path.replace('_', '-')}"
    if best.prompt_tokens and other.prompt_tokens and best.prompt_tokens < other.prompt_tokens:
        text += f" at {best.prompt_tokens / other.prompt_tokens:.0%} of its prompt tokens"
    return text


def best_measured(comparison: Comparison) -> Measured | None:
    """The best path the advisor can recommend (the router is not an approach)."""
    candidates = [result for result in comparison.paths if result.path in APPROACH_OF_PATH]
    if not candidates:
        return None
    top = max(result.quality for result in candidates)
    best = min((result for result in candidates if result.quality >= top - TIE_POINTS), key=tokens)
    reason = f"{best.path.replace('_', '-')}: {best.quality:.3f} {comparison.metric}"  # 0.875, not 0.88
    others = [result for result in candidates if APPROACH_OF_PATH[result.path] != APPROACH_OF_PATH[best.path]]
    if others:
        reason += ", " + describe_margin(best, max(others, key=lambda result: result.quality))
    reason += f" on {comparison.examples} held-out examples of {comparison.dataset}"
    return Measured(comparison.dataset, APPROACH_OF_PATH[best.path], best.path, reason, comparison)
