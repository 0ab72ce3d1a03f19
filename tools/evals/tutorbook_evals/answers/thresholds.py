"""The router's evidence threshold for RAG, replayed on recorded answers: at a higher threshold, an answer
whose best passage scored below it would have been "not sure" (abstain) instead. For each threshold: how
many labelled answers (a label for their exact text) are kept right, kept wrong, or become "not sure", and
the reader's token F1 and containment under ``withhold`` (what the default shows) on the questions with a
reference (labelled or not: they are scored against the reference).

The replay reads the best passage's dense score from the citations and the threshold the answer was
routed at from the router's reason; the router's other rules (the agreement band just under the threshold,
small talk, adapters) are not replayed, so a threshold at or below the recorded one changes nothing.
"""

import re
from collections.abc import Sequence
from typing import Any

from tutorbook_evals.answers.labels import Labels
from tutorbook_evals.answers.scoring import policy_text
from tutorbook_evals.answers.tables import markdown_table
from tutorbook_evals.compare.metrics import contains_reference, mean, token_f1
from tutorbook_gateway.chat.generation import abstain_answer
from tutorbook_grounding.policy import ClaimsPolicy

# The router's reason when the evidence decided RAG: "the best passage scored 0.61 (threshold 0.36, ...".
# A route forced by a hint or a model name, or chosen for an adapter, never met the threshold: unchanged.
ROUTED_BY_EVIDENCE = re.compile(r"the best passage scored [0-9.]+ \(threshold ([0-9.]+)")


def best_score(record: dict[str, Any]) -> float | None:
    scores = [float(c["score"]) for c in record.get("citations") or [] if c.get("score") is not None]
    return max(scores) if scores else None


def shown_at(record: dict[str, Any], threshold: float) -> tuple[str, bool]:
    """What the reader would see at ``threshold`` (under ``withhold``), and whether it is now "not sure"."""
    score = best_score(record)
    routed_at = ROUTED_BY_EVIDENCE.search(str(record.get("reason") or ""))
    raised = routed_at is not None and threshold > float(routed_at.group(1))
    if record.get("route") == "rag" and raised and score is not None and score < threshold:
        topics = tuple(dict.fromkeys(str(c.get("title", "")) for c in record["citations"]))[:3]
        return abstain_answer(topics), True
    return policy_text(record, ClaimsPolicy.WITHHOLD), False


def sweep_row(records: Sequence[dict[str, Any]], labels: Labels, threshold: float) -> dict[str, Any]:
    counts = {"right_kept": 0, "right_lost": 0, "wrong_kept": 0, "wrong_avoided": 0, "abstained": 0}
    f1, contained = [], []
    for record in records:
        text, abstained = shown_at(record, threshold)
        counts["abstained"] += abstained
        label = labels.label_of(record)
        if label is not None:
            kind = "right" if label["correct"] else "wrong"
            counts[f"{kind}_{('lost' if kind == 'right' else 'avoided') if abstained else 'kept'}"] += 1
        if record.get("reference"):
            f1.append(token_f1(text, record["reference"]))
            contained.append(float(contains_reference(text, record["reference"])))
    return {"threshold": threshold, **counts, "token_f1": round(mean(f1), 3), "containment": round(mean(contained), 3)}


def threshold_sweep(
    records: Sequence[dict[str, Any]], labels: Labels, thresholds: Sequence[float]
) -> list[dict[str, Any]]:
    return [sweep_row(records, labels, threshold) for threshold in thresholds]


def sweep_table(rows: Sequence[dict[str, Any]]) -> str:
    head = ["RAG threshold", "abstained", "right kept", "right lost", "wrong kept", "wrong avoided",
            "token F1 (withhold)", "containment (withhold)"]  # fmt: skip
    cells = [
        [f"{row['threshold']:.2f}", row["abstained"], row["right_kept"], row["right_lost"], row["wrong_kept"],
         row["wrong_avoided"], f"{row['token_f1']:.3f}", f"{row['containment']:.3f}"]
        for row in rows
    ]  # fmt: skip
    return markdown_table(head, cells)
