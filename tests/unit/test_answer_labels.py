"""Hand labels count only for the exact answer text they were written for: an answer whose text changed
since it was labelled is not scored against the old label, but counted and listed as unlabelled, and
written out to be labelled by hand (docs/answers.md, "The labelled answer set")."""

import json
from pathlib import Path
from typing import Any

import pytest

from tutorbook_evals.answers.cli import main, report_of
from tutorbook_evals.answers.labels import labels_of, unlabelled_rows
from tutorbook_evals.answers.scoring import generated_answer
from tutorbook_evals.answers.thresholds import threshold_sweep
from tutorbook_grounding.policy import ClaimsPolicy, apply_policy
from tutorbook_grounding.support import Claim, Passage

PASSAGE = Passage("Warranty Policy > Coverage", "All products carry a 2-year warranty.")
REASON = "the best passage scored 0.40 (threshold 0.36, margin 0.05, dense and lexical search agree)"


def answer(question: str, sentences: dict[str, bool], set_name: str = "samples") -> dict[str, Any]:
    """An answer recorded by ``run`` under ``flag``: each sentence supported or not by the passage."""
    claims = [
        Claim(text, ok, 0 if ok else None, PASSAGE.text if ok else None, "supported" if ok else "not stated")
        for text, ok in sentences.items()
    ]
    written = " ".join(sentences)
    return {
        "set": set_name, "id": question, "question": f"Question {question}?", "reference": "two years",
        "answer": apply_policy(written, claims, [PASSAGE], ClaimsPolicy.FLAG), "route": "rag", "reason": REASON,
        "claims": [claim.as_dict() for claim in claims], "answer_check": {"policy": "flag", "seconds": 0.01},
        "latency_ms": 1500.0, "finish_reason": "stop",
        "citations": [{"title": "Warranty Policy", "section": "Coverage", "snippet": PASSAGE.text, "score": 0.4}],
    }  # fmt: skip


def label(question: str, text: str, correct: bool, set_name: str = "samples") -> tuple[str, dict[str, Any]]:
    return "test", {"set": set_name, "id": question, "answer": text, "correct": correct, "reason": "by hand"}


RIGHT = answer("q1", {"Two years.": True})
WRONG = answer("q2", {"Two years.": True, "It covers drops.": False})  # recorded with the flag mark
CHANGED = answer("q3", {"Five years.": False})  # labelled when it said "Two years."
NEW = answer("q4", {"Two years from delivery.": True})  # never labelled
LABELS = labels_of([
    label("q1", "\n Two years.  ", True),  # whitespace at both ends does not count
    label("q2", "Two years. It covers drops.", False),  # the text as generated, before the flag mark
    label("q3", "Two years.", True),  # yesterday's text
])  # fmt: skip


def test_an_answer_is_scored_only_against_a_label_for_its_exact_text() -> None:
    assert "(not found in the sources)" in WRONG["answer"]  # the recorded answer carries flag's mark
    assert generated_answer(WRONG) == "Two years. It covers drops."
    assert LABELS.label_of(RIGHT) is not None and LABELS.label_of(WRONG) is not None
    assert LABELS.label_of(CHANGED) is None  # a label for another text of the same question
    assert LABELS.label_of(NEW) is None
    inside = labels_of([label("q1", "Two  years.", True)])  # whitespace inside the text counts
    assert inside.label_of(RIGHT) is None


def test_the_report_counts_and_lists_the_unlabelled_answers_and_scores_only_the_labelled() -> None:
    report = report_of([RIGHT, WRONG, CHANGED, NEW], LABELS)
    assert (report["labels"]["answers"], report["labels"]["labelled"]) == (4, 2)
    assert report["labels"]["unlabelled"] == [
        {"set": "samples", "id": "q3", "answer": "Five years.", "labelled_for_another_text": True},
        {"set": "samples", "id": "q4", "answer": "Two years from delivery.", "labelled_for_another_text": False},
    ]
    caught = report["claims_policies"]
    assert (caught["labelled"], caught["right"], caught["wrong"]) == (2, 1, 1)  # not q3 as "right"
    assert caught["flag"]["caught"] == 1 and caught["flag"]["false_flags"] == 0
    assert report["sets"]["samples"]["as_generated"]["answers"] == 4  # references score every answer


def test_with_yesterdays_label_alone_no_rate_is_reported() -> None:
    report = report_of([CHANGED], LABELS)
    assert report["claims_policies"] is None
    assert (report["labels"]["labelled"], len(report["labels"]["unlabelled"])) == (0, 1)


def test_the_threshold_replay_counts_right_and_wrong_over_the_labelled_answers_only() -> None:
    (row,) = threshold_sweep([RIGHT, WRONG, CHANGED, NEW], LABELS, [0.5])
    assert row["abstained"] == 4  # every answer's best passage scored 0.40
    assert (row["right_lost"], row["wrong_avoided"], row["right_kept"], row["wrong_kept"]) == (1, 1, 0, 0)


def test_unlabelled_answers_are_written_in_the_labels_format_with_an_empty_label() -> None:
    manual = answer("s10-01", {"Open Settings.": True}, set_name="emanual-s10")
    rows = unlabelled_rows([RIGHT, CHANGED, CHANGED, manual, {**NEW, "answer": "", "error": "HTTP 503"}], LABELS)
    assert [(row["id"], row["answer"]) for row in rows] == [("q3", "Five years."), ("s10-01", "Open Settings.")]
    assert rows[0]["question"] == "Question q3?" and (rows[0]["correct"], rows[0]["reason"]) == (None, "")
    assert rows[0]["claims"] == [{"supported": False, "hedge": False, "reason": "not stated"}]
    assert "question" not in rows[1] and "reference" not in rows[1]  # E-Manual text is never copied here
    with pytest.raises(ValueError, match="no label yet"):
        labels_of([("unlabelled.jsonl:1", rows[0])])  # appended before a person labelled it
    filled = labels_of([("unlabelled.jsonl:1", {**rows[0], "correct": False, "reason": "says five years"})])
    assert filled.label_of(CHANGED) == {**rows[0], "correct": False, "reason": "says five years"}


def test_labels_without_their_answer_text_or_contradicting_each_other_are_refused() -> None:
    with pytest.raises(ValueError, match="no answer text"):
        labels_of([("labels.jsonl:1", {"set": "samples", "id": "q1", "correct": True})])
    with pytest.raises(ValueError, match="both right and wrong"):
        labels_of([label("q1", "Two years.", True), label("q1", " Two years.", False)])


def test_score_prints_the_coverage_and_writes_the_unlabelled_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, labels, report, unlabelled = (tmp_path / name for name in ("run.json", "labels.jsonl", "r.json", "u.jsonl"))
    run.write_text(json.dumps({"answers": [RIGHT, WRONG, CHANGED, NEW]}))
    labels.write_text("".join(json.dumps(row) + "\n" for _, row in [label("q1", "Two years.", True)]))
    arguments = [str(run), "--labels", str(labels), "--output", str(report), "--unlabelled", str(unlabelled)]
    main(["score", *arguments])
    printed = capsys.readouterr().out
    assert "cover 1 of 4 answers" in printed and "3 unlabelled" in printed
    assert '- samples/q3: "Five years."' in printed
    assert json.loads(report.read_text())["figures"]["runs"][str(run)]["labels"]["labelled"] == 1
    written = [json.loads(line) for line in unlabelled.read_text().splitlines()]
    assert [row["id"] for row in written] == ["q2", "q3", "q4"]
