"""Hand labels for recorded answers, each for one exact answer text (docs/answers.md, "The labelled answer
set").

A label row (``docs/answers/labelled-answers.jsonl``) names the question (``set``, ``id``), the answer text
it was written for (``answer``) and the label (``correct``, ``reason``). An answer is scored against a label
only when the label's text equals the answer as generated (:func:`~tutorbook_evals.answers.scoring.generated_answer`),
exactly, after stripping whitespace at both ends and nothing else. An answer with no label for its exact
text is *unlabelled*: counted, listed, left out of every figure read from labels, and written out (with an
empty label) for a person to label by hand.
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tutorbook_evals.answers.scoring import generated_answer, key_of

# Sets whose question and reference come from ../shared/eval-data: never copied into the project, so their
# label rows carry the answer and the label only (as the committed E-Manual rows do).
UNCOPIED_SETS = frozenset({"emanual-s10", "emanual-s10-held-out"})


def answer_text(text: str) -> str:
    """The text a label is matched on: exact, but for whitespace at both ends."""
    return text.strip()


@dataclass(frozen=True)
class Labels:
    """Label rows by question (``set/id``), then by the exact answer text they were written for."""

    by_question: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def label_of(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """The label written for this answer's exact text, else None (a label for another text of the
        same question does not count)."""
        return self.by_question.get(key_of(record), {}).get(answer_text(generated_answer(record)))

    def labelled(self, records: Iterable[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """The answers with a label for their exact text, each with its label."""
        return [(record, label) for record in records if (label := self.label_of(record)) is not None]

    def unlabelled(self, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return [record for record in records if self.label_of(record) is None]

    def __len__(self) -> int:
        return sum(len(texts) for texts in self.by_question.values())


def labels_of(rows: Iterable[tuple[str, dict[str, Any]]]) -> Labels:
    """Labels from rows, each with where it was read (for the error). A row without its answer text, or
    without a true/false ``correct`` (a row written out by ``--unlabelled`` and not yet labelled), is
    refused; two rows for the same text must agree."""
    by_question: dict[str, dict[str, dict[str, Any]]] = {}
    for where, row in rows:
        missing = [name for name in ("set", "id") if not isinstance(row.get(name), str) or not row[name]]
        if missing:
            raise ValueError(f"{where}: a label row needs {' and '.join(missing)}")
        text = row.get("answer")
        if not isinstance(text, str) or not answer_text(text):
            raise ValueError(f"{where}: {key_of(row)} records no answer text: a label is matched to the exact text")
        if not isinstance(row.get("correct"), bool):
            raise ValueError(f"{where}: {key_of(row)} has no label yet (correct must be true or false)")
        texts = by_question.setdefault(key_of(row), {})
        earlier = texts.setdefault(answer_text(text), row)
        if earlier["correct"] != row["correct"]:
            raise ValueError(f"{where}: {key_of(row)} is labelled both right and wrong for the same answer text")
    return Labels(by_question)


def read_labels(paths: Sequence[Path]) -> Labels:
    """The label rows of JSONL files (blank lines skipped)."""
    rows = [
        (f"{path}:{number}", json.loads(line))
        for path in paths
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if line.strip()
    ]
    return labels_of(rows)


def coverage(records: Sequence[dict[str, Any]], labels: Labels) -> dict[str, Any]:
    """How many answers the labels cover, and which they do not (with their text as generated; whether
    the question has a label for another text: the label went stale when the answer changed)."""
    missing = labels.unlabelled(records)
    listed = [
        {
            "set": record["set"],
            "id": record["id"],
            "answer": generated_answer(record),
            "labelled_for_another_text": key_of(record) in labels.by_question,
        }
        for record in missing
    ]
    return {"answers": len(records), "labelled": len(records) - len(missing), "unlabelled": listed}


def unlabelled_row(record: dict[str, Any]) -> dict[str, Any]:
    """An unlabelled answer in the labels file's format, its label left empty (``correct`` null, ``reason``
    blank) for a person to fill in. E-Manual rows carry no question or reference (UNCOPIED_SETS)."""
    row: dict[str, Any] = {"set": record["set"], "id": record["id"]}
    if record["set"] not in UNCOPIED_SETS:
        row |= {"question": record.get("question"), "reference": record.get("reference")}
    row |= {"answer": generated_answer(record), "route": record.get("route"), "correct": None, "reason": ""}
    return row | {"claims": verdicts_of(record.get("claims"))}


def verdicts_of(claims: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """The claim check's verdicts as the labels file keeps them (the sentences are in the answer)."""
    if claims is None:
        return None
    return [{"supported": c["supported"], "hedge": bool(c.get("hedge")), "reason": c.get("reason", "")} for c in claims]


def unlabelled_rows(records: Iterable[dict[str, Any]], labels: Labels) -> list[dict[str, Any]]:
    """The unlabelled answers to label, once per question and text; errors (no text) are left out."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for record in labels.unlabelled(records):
        text = answer_text(generated_answer(record))
        if text and not record.get("error"):
            rows.setdefault((key_of(record), text), unlabelled_row(record))
    return list(rows.values())


def write_unlabelled(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(row, ensure_ascii=False) + "\n" for row in rows]
    path.write_text("".join(lines), encoding="utf-8")
