"""The questions the answer evaluation asks: the sample questions (with reference answers), the contrast
questions (the same questions about a neighbouring product; judged by the labels) and E-Manual questions
(read from ../shared/eval-data, never copied into the project).

Two sets are held out of the claim check's development, to measure it on answers it was not tuned on:
``held-out`` (``samples/claim_check_questions.jsonl``, written after the check was built, each about a fact
no other sample question asks) and ``emanual-s10-held-out`` (the E-Manual S10 questions outside the seeded
sample the check was developed on)."""

import json
import random
from dataclasses import dataclass
from pathlib import Path

from tutorbook_evals.compare.datasets import builtin_qa

ANSWER_SETS = ("samples", "contrast", "emanual-s10")
HELD_OUT_SETS = ("held-out", "emanual-s10-held-out")  # never asked while the claim check was developed
DEVELOPMENT_SAMPLE = (20, 0)  # the E-Manual questions the check was developed on: a sample of 20, seed 0
HELD_OUT_FILE = "claim_check_questions.jsonl"


@dataclass(frozen=True)
class Question:
    set: str
    id: str
    text: str
    reference: str | None  # None: no reference answer (the labels judge it)


def rows(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def sample_questions(samples: Path) -> list[Question]:
    return [Question("samples", row["id"], row["question"], row["answer"]) for row in rows(samples / "questions.jsonl")]


def contrast_questions(samples: Path) -> list[Question]:
    found = rows(samples / "contrast_questions.jsonl")
    return [
        Question("contrast", f"c{number:02d}-{row['near']}", row["question"], None)
        for number, row in enumerate(found, 1)
    ]


def held_out_questions(samples: Path) -> list[Question]:
    return [Question("held-out", row["id"], row["question"], row["answer"]) for row in rows(samples / HELD_OUT_FILE)]


def numbered_emanual(eval_data: Path) -> list[Question]:
    dataset = builtin_qa("emanual-s10", Path("samples"), eval_data)
    return [Question("emanual-s10", f"s10-{n:02d}", q.text, q.answer) for n, q in enumerate(dataset.questions, 1)]


def emanual_questions(eval_data: Path, limit: int, seed: int) -> list[Question]:
    numbered = numbered_emanual(eval_data)
    return sorted(random.Random(seed).sample(numbered, min(limit, len(numbered))), key=lambda q: q.id)


def emanual_held_out(eval_data: Path) -> list[Question]:
    """The E-Manual S10 questions outside :data:`DEVELOPMENT_SAMPLE`."""
    developed = {question.id for question in emanual_questions(eval_data, *DEVELOPMENT_SAMPLE)}
    return [
        Question("emanual-s10-held-out", q.id, q.text, q.reference)
        for q in numbered_emanual(eval_data)
        if q.id not in developed
    ]


def questions_of(sets: list[str], samples: Path, eval_data: Path, emanual_limit: int, seed: int) -> list[Question]:
    chosen: list[Question] = []
    for name in sets:
        if name == "samples":
            chosen += sample_questions(samples)
        elif name == "contrast":
            chosen += contrast_questions(samples)
        elif name == "emanual-s10":
            chosen += emanual_questions(eval_data, emanual_limit, seed)
        elif name == "held-out":
            chosen += held_out_questions(samples)
        elif name == "emanual-s10-held-out":
            chosen += emanual_held_out(eval_data)
        else:
            raise ValueError(f"unknown set {name!r}; choose from {', '.join(ANSWER_SETS + HELD_OUT_SETS)}")
    return chosen
