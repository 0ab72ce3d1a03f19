"""tutorbook-compare's figures and report, on observations made up here (the runs themselves are e2e)."""

import json
from pathlib import Path

import pytest

from tutorbook_evals.compare.datasets import ClassificationSet, Labelled, Subset, narrowed
from tutorbook_evals.compare.metrics import contains_reference, macro_f1, percentile, token_f1, yes_no_correct
from tutorbook_evals.compare.paths import classification_paths, pick_shots
from tutorbook_evals.compare.report import write_outputs
from tutorbook_evals.compare.runner import Observation
from tutorbook_evals.compare.summary import classification_result, qa_result, recommendation
from tutorbook_evals.retrieval_corpora import EvalQuestion
from tutorbook_gateway.advisor.measured import Comparison, read_comparison

LABELS = ["billing", "returns", "shipping"]
TRAIN = [Labelled(f"{label} text {i}", label) for label in LABELS for i in range(4)]
TEST = [Labelled("charged twice", "billing"), Labelled("send it back", "returns"), Labelled("late", "shipping")]
TRIAGE = ClassificationSet("triage", LABELS, TRAIN, TEST)


def said(answer: str, label: str | None = None, confidence: float | None = None, **extra: object) -> Observation:
    return Observation(answer, extra.pop("route", "adapter"), 100.0, 50, 3, label, confidence, **extra)  # type: ignore[arg-type]


def test_classification_figures_from_labels_and_from_generated_text() -> None:
    adapter = [said("", "billing", 0.9), said("", "returns", 0.8), said("", "billing", 0.6)]
    result = classification_result("adapter", adapter, TRIAGE)
    assert result.quality == pytest.approx(2 / 3, abs=1e-4)
    assert result.figures["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3, abs=1e-4)
    assert result.figures["calibration_error"] == pytest.approx((0.1 + 0.2 + 0.6) / 3, abs=1e-4)
    prompted = classification_result("few_shot", [said(" Billing."), said("return"), said("Shipping")], TRIAGE)
    assert prompted.quality == 1.0 and "calibration_error" not in prompted.figures  # no confidence reported
    failed = classification_result("zero_shot", [said("billing"), said("", error="HTTP 500"), said("x")], TRIAGE)
    assert failed.figures["errors"] == 1 and failed.quality == pytest.approx(1 / 3, abs=1e-4)


def test_qa_figures() -> None:
    questions = [
        EvalQuestion("Is it waterproof?", frozenset({"specs"}), "Yes, to IPX4."),
        EvalQuestion("How much?", frozenset({"prices"}), "$249"),
    ]
    answers = [
        said("No, it is not.", citations=["specs"], route="rag"),
        said("It costs $249 [1].", citations=["manual", "prices"], route="rag"),
    ]
    result = qa_result("rag", answers, questions)
    assert result.figures["yes_no_accuracy"] == 0.0 and result.figures["yes_no_questions"] == 1
    assert result.figures["contains_reference"] == 0.5
    assert result.figures["recall_at_k"] == 1.0 and result.figures["gold_cited_first"] == 0.5


def test_answer_metrics() -> None:
    assert token_f1("The price is $249.", "$249") == pytest.approx(2 * (1 / 4) / (1 + 1 / 4))
    assert contains_reference("Up to 40 m² (430 sq ft) it says", "up to 40 m²")
    assert yes_no_correct("Yes: local automations keep running.", "Yes") is True
    assert yes_no_correct("No, you cannot.", "yes, local automations run") is False
    assert yes_no_correct("Two years.", "Two years") is None
    assert macro_f1(["a", "a"], ["a", "b"], ["a", "b"]) == pytest.approx((2 / 3 + 0) / 2)
    assert percentile([5.0, 1.0, 3.0], 0.5) == 3.0


def test_a_subset_keeps_whole_labels_and_only_their_held_out_texts() -> None:
    test = [*TEST, Labelled("other", "account")]
    chosen = narrowed("x", [*TRAIN, Labelled("a", "account")], test, Subset(labels=2, train_per_label=3, seed=1))
    assert len(chosen.labels) == 2 and {e.label for e in chosen.train} == set(chosen.labels)
    assert len(chosen.train) == 6 and {e.label for e in chosen.test} <= set(chosen.labels)
    with pytest.raises(ValueError, match="account"):
        narrowed("x", TRAIN, test, Subset())


def test_a_subset_can_name_its_labels_and_a_name_without_training_texts_is_refused() -> None:
    chosen = narrowed("x", TRAIN, TEST, Subset(names=("shipping", "billing")))
    assert chosen.labels == ["billing", "shipping"] and {e.label for e in chosen.test} == {"billing", "shipping"}
    with pytest.raises(ValueError, match="no training texts for refunds"):
        narrowed("x", TRAIN, TEST, Subset(names=("billing", "refunds")))


def test_a_held_out_text_also_in_the_training_split_is_never_scored() -> None:
    leaked = Labelled(f"  {TRAIN[0].text.upper()} ", TRAIN[0].label)  # the same text, another case and spacing
    chosen = narrowed("x", TRAIN, [*TEST, leaked], Subset())
    assert leaked not in chosen.test and len(chosen.test) == len(TEST)


def test_shots_come_from_the_training_split_one_per_label() -> None:
    shots = pick_shots(TRIAGE, per_label=1, limit=24, seed=0)
    assert sorted(shot.label for shot in shots) == LABELS and all(shot in TRAIN for shot in shots)
    few_shot = next(
        path for path in classification_paths(TRIAGE, "base", "triage", shots, 7) if path.name == "few_shot"
    )
    body = few_shot.body("charged twice")
    assert body["model"] == "base" and body["seed"] == 7 and len(body["messages"]) == 2 + 2 * len(shots)
    names = [path.name for path in classification_paths(TRIAGE, "base", None, shots, 7)]
    assert names == ["zero_shot", "few_shot"]  # no adapter: neither the adapter nor the router path


def test_the_report_recommends_from_the_figures_and_the_advisor_reads_it(tmp_path: Path) -> None:
    few_shot = classification_result("few_shot", [said("billing"), said("billing"), said("billing")], TRIAGE)
    adapter = classification_result("adapter", [said("", t.label, 0.9) for t in TEST], TRIAGE)
    comparison = Comparison(dataset="triage", task="classification", metric="accuracy", examples=3,
                            paths=[few_shot, adapter])  # fmt: skip
    advice = recommendation(comparison)
    assert advice["approach"] == "adapter" and "+66.7 points over few-shot" in advice["reason"]
    comparison.recommendation = advice
    write_outputs(tmp_path, comparison, advice, ["a note"], {"adapter": [(0.9, True)] * 3})
    assert read_comparison(tmp_path).recommendation["approach"] == "adapter"
    report = (tmp_path / "report.md").read_text()
    assert "| adapter | 1.000 |" in report and "**Recommendation: adapter.**" in report
    assert {p.name for p in tmp_path.glob("*.png")} == {"quality-tokens.png", "quality-latency.png", "reliability.png"}
    assert json.loads((tmp_path / "comparison.json").read_text())["paths"][1]["figures"]["calibration_error"] == 0.1


def test_an_embedding_classifier_that_beats_the_adapter_is_recommended_as_the_tutor() -> None:
    adapter = classification_result("adapter", [said("", "billing", 0.9)] * 3, TRIAGE)
    baseline = classification_result("embedding_classifier", [said("", t.label, 0.9) for t in TEST], TRIAGE)
    comparison = Comparison(
        dataset="t", task="classification", metric="accuracy", examples=3, paths=[adapter, baseline]
    )
    advice = recommendation(comparison)
    assert advice["approach"] == "embedding_classifier"
    assert advice["reason"].startswith("embedding-classifier: 1.000 accuracy, +66.7 points over adapter")
    assert "--kind embedding-classifier" in advice["reason"]
