"""From a path's observations to its figures (:class:`PathResult`, the shape the advisor reads), and from
all paths to the recommendation for the dataset, with its reasons."""

from tutorbook_adapter_format.card import closest_label
from tutorbook_evals.compare.datasets import ClassificationSet
from tutorbook_evals.compare.metrics import (
    accuracy,
    calibration_error,
    contains_reference,
    macro_f1,
    mean,
    percentile,
    token_f1,
    yes_no_correct,
)
from tutorbook_evals.compare.runner import Observation
from tutorbook_evals.retrieval_corpora import EvalQuestion
from tutorbook_gateway.advisor.measured import Comparison, PathResult, best_measured

RETRAIN_NOTE = {
    "adapter": "retrain and compare again when the labels or the task change",
    "adapter_rag": "retrain when the task changes; re-ingest when the documents do",
    "rag": "re-ingest when the documents change; no training to maintain",
    "prompting": "no training and no index to maintain; revisit when you have hundreds of examples",
    "embedding_classifier": "train it with tutorbook-train-adapter --kind embedding-classifier (seconds) and "
    "upload it: the gateway serves it without the generator; retrain when the labels change",
}


def cost_and_speed(path: str, observations: list[Observation], quality: float, figures: dict[str, float]) -> PathResult:
    answered = [o for o in observations if o.error is None]
    latencies = [o.latency_ms for o in answered]
    figures = {**figures, "errors": float(len(observations) - len(answered))}
    figures["cache_hits"] = float(sum(o.cache == "hit" for o in answered))
    return PathResult(
        path=path,
        quality=round(quality, 4),
        prompt_tokens=round(mean([float(o.prompt_tokens) for o in answered]), 1),
        completion_tokens=round(mean([float(o.completion_tokens) for o in answered]), 1),
        p50_ms=round(percentile(latencies, 0.5), 1),
        p95_ms=round(percentile(latencies, 0.95), 1),
        figures={key: round(value, 4) for key, value in figures.items()},
    )


def classification_result(path: str, observations: list[Observation], dataset: ClassificationSet) -> PathResult:
    predicted = [o.label or (closest_label(o.answer, dataset.labels) if o.error is None else "") for o in observations]
    gold = [example.label for example in dataset.test]
    figures = {"accuracy": accuracy(predicted, gold), "macro_f1": macro_f1(predicted, gold, dataset.labels)}
    calibration = calibration_error(
        [o.confidence for o in observations], [p == g for p, g in zip(predicted, gold, strict=True)]
    )
    if calibration is not None:
        figures["calibration_error"] = calibration
    if path == "router":
        figures["routed_to_adapter"] = mean([float(o.route == "adapter") for o in observations])
    return cost_and_speed(path, observations, figures["accuracy"], figures)


def qa_result(path: str, observations: list[Observation], questions: list[EvalQuestion]) -> PathResult:
    pairs = list(zip(observations, questions, strict=True))
    yes_no = [ok for o, q in pairs if (ok := yes_no_correct(o.answer, q.answer)) is not None]
    figures = {
        "token_f1": mean([token_f1(o.answer, q.answer) for o, q in pairs]),
        "contains_reference": mean([float(contains_reference(o.answer, q.answer)) for o, q in pairs]),
        "abstain_rate": mean([float(o.route == "abstain") for o, _ in pairs]),
    }
    if yes_no:
        figures.update(yes_no_accuracy=mean([float(ok) for ok in yes_no]), yes_no_questions=float(len(yes_no)))
    if any(o.citations for o, _ in pairs):
        figures["recall_at_k"] = mean([float(bool(q.gold & set(o.citations))) for o, q in pairs])
        figures["gold_cited_first"] = mean([float(bool(o.citations) and o.citations[0] in q.gold) for o, q in pairs])
    return cost_and_speed(path, observations, figures["token_f1"], figures)


def recommendation(comparison: Comparison) -> dict[str, str]:
    """The approach the figures point to and why, in the advisor's own terms (it reads the same file)."""
    measured = best_measured(comparison)
    if measured is None:
        return {"approach": "none", "reason": "no path the advisor recommends was measured"}
    reason = f"{measured.reason}; {RETRAIN_NOTE[measured.approach]}"
    return {"approach": measured.approach, "path": measured.path, "reason": reason}
