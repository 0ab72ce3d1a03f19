"""The router's RAG threshold replayed on recorded answers: raising it turns answers on weak passages into
"not sure"; the recorded threshold and anything under it change nothing."""

from typing import Any

from tutorbook_evals.answers.labels import labels_of
from tutorbook_evals.answers.thresholds import threshold_sweep

REASON = "the best passage scored {score} (threshold 0.36, margin 0.05, dense and lexical search agree)"


def answer(number: int, score: float, text: str, reference: str, supported: bool = True) -> dict[str, Any]:
    claims = [{"text": text, "supported": supported, "citation": 0 if supported else None, "quote": text}]
    return {
        "set": "samples", "id": f"q{number}", "route": "rag", "reason": REASON.format(score=score),
        "answer": text, "reference": reference, "claims": claims,
        "citations": [{"title": "Warranty Policy", "section": "", "snippet": text, "score": score}],
    }  # fmt: skip


def test_a_higher_threshold_abstains_on_weak_passages_and_counts_what_it_costs() -> None:
    records = [
        answer(1, 0.72, "The warranty lasts two years [1].", "two years"),
        answer(2, 0.41, "The warranty lasts five years [1].", "two years", supported=False),
        answer(3, 0.33, "Returns take 30 days [1].", "30 days"),  # let through by the agreement band
    ]
    verdicts = {"q1": True, "q2": False, "q3": True}
    labels = labels_of(
        ("test", {"set": "samples", "id": r["id"], "answer": r["answer"], "correct": verdicts[r["id"]]})
        for r in records
    )
    forced = {**answer(4, 0.30, "Returns take 30 days [1].", "30 days"), "reason": "route forced by the request"}
    records.append(forced)  # a forced route never met the threshold: never replayed
    at_recorded, raised = threshold_sweep(records, labels, [0.36, 0.45])
    assert at_recorded["abstained"] == 0 and at_recorded["right_kept"] == 2 and at_recorded["wrong_kept"] == 1
    assert raised["abstained"] == 2 and raised["wrong_avoided"] == 1 and raised["right_lost"] == 1
    assert raised["right_kept"] == 1 and raised["token_f1"] < at_recorded["token_f1"]
    assert raised["abstained"] == 2  # not the forced one
