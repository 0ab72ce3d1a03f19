"""The judge model's threshold, replayed on answers recorded with a judge (``TUTORBOOK_GATEWAY_CLAIMS__JUDGE_MODEL``):
every claim the judge was asked about carries its probability, so any threshold can be replayed, and "no
judge" too. For each: how many labelled wrong answers the check catches and how many right ones it changes
(the same counts as the policies' table, over the answers with a label for their exact text), and what the
reader sees under ``withhold`` on the questions with a reference (token F1, containment)."""

from collections.abc import Sequence
from typing import Any

from tutorbook_evals.answers.labels import Labels
from tutorbook_evals.answers.scoring import catch_rates, correctness, policy_text
from tutorbook_evals.answers.tables import markdown_table
from tutorbook_grounding.judging import claims_at
from tutorbook_grounding.policy import ClaimsPolicy
from tutorbook_grounding.support import Claim


def replayed(record: dict[str, Any], threshold: float | None) -> dict[str, Any]:
    """The record as the judge at ``threshold`` would have answered. Its answer is rebuilt from the claims'
    texts: the recorded one carries the live judge's flag marks."""
    claims = record.get("claims")
    if not claims:
        return record
    again = claims_at([Claim.from_dict(c) for c in claims], threshold)
    answer = " ".join(claim.text for claim in again)
    return {**record, "answer": answer, "claims": [c.as_dict() for c in again]}


def judge_failed(record: dict[str, Any]) -> bool:
    """The live judge could not answer: the check's verdicts stood, at every threshold."""
    return "error" in ((record.get("answer_check") or {}).get("judge") or {})


def judge_row(records: Sequence[dict[str, Any]], labels: Labels, threshold: float | None) -> dict[str, Any]:
    shown = [replayed(record, threshold) for record in records]
    # labels are matched on the answers as recorded: the replay rebuilds their text
    caught = catch_rates([(replayed(record, threshold), label) for record, label in labels.labelled(records)])
    seen = correctness(shown, lambda r: policy_text(r, ClaimsPolicy.WITHHOLD))
    return {
        "threshold": threshold,
        "wrong": caught["wrong"],
        "right": caught["right"],
        "caught": caught["withhold"]["caught"],
        "false_flags": caught["withhold"]["false_flags"],
        "token_f1": seen["token_f1"],
        "containment": seen["containment"],
        "judge_failed": sum(judge_failed(record) for record in records),
    }


def judge_sweep(records: Sequence[dict[str, Any]], labels: Labels, thresholds: Sequence[float]) -> list[dict[str, Any]]:
    return [judge_row(records, labels, threshold) for threshold in [None, *thresholds]]


def judge_table(rows: Sequence[dict[str, Any]]) -> str:
    head = ["judge's threshold", "wrong answers caught", "right answers changed", "token F1 (withhold)",
            "containment (withhold)", "judge failed (verdicts unjudged)"]  # fmt: skip
    cells = [
        ["no judge" if row["threshold"] is None else f"{row['threshold']:.2f}", f"{row['caught']} of {row['wrong']}",
         f"{row['false_flags']} of {row['right']}", f"{row['token_f1']:.3f}", f"{row['containment']:.3f}",
         row["judge_failed"]]
        for row in rows
    ]  # fmt: skip
    return markdown_table(head, cells)
