"""The claim check's held-out answer sets share nothing with what it was developed on: the new sample
questions repeat no sample, paraphrase or contrast question and each quotes its page; the held-out
E-Manual questions are exactly those outside the development sample (skipped, and said so, where the
eval data is absent); and the committed labels copy nothing from the eval data."""

import json
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, SAMPLES
from tutorbook_evals.answers.labels import UNCOPIED_SETS
from tutorbook_evals.answers.questions import (
    DEVELOPMENT_SAMPLE,
    HELD_OUT_FILE,
    emanual_held_out,
    emanual_questions,
    held_out_questions,
    numbered_emanual,
)
from tutorbook_evals.routing_set import default_eval_data, normalised


def texts(path: Path) -> set[str]:
    return {normalised(json.loads(line)["question"]) for line in path.read_text().splitlines() if line.strip()}


def test_the_new_sample_questions_repeat_none_the_check_was_developed_on_and_quote_their_pages() -> None:
    held_out = held_out_questions(SAMPLES)
    assert len(held_out) == 40 and all(question.reference for question in held_out)
    asked = [normalised(question.text) for question in held_out]
    assert len(set(asked)) == len(asked)
    for earlier in ("questions.jsonl", "paraphrases.jsonl", "contrast_questions.jsonl"):
        assert not set(asked) & texts(SAMPLES / earlier), earlier
    for row in map(json.loads, (SAMPLES / HELD_OUT_FILE).read_text().splitlines()):
        assert row["evidence"] in (SAMPLES / "knowledge_base" / f"{row['doc_id']}.md").read_text(), row["id"]


def test_the_held_out_emanual_questions_are_those_outside_the_development_sample() -> None:
    eval_data = default_eval_data(REPO_ROOT)
    if eval_data is None or not (eval_data / "emanual-qa").is_dir():
        pytest.skip("emanual-qa not found: set TUTORBOOK_EVAL_DATA to the eval-data folder")
    developed = {question.id for question in emanual_questions(eval_data, *DEVELOPMENT_SAMPLE)}
    held_out = {question.id for question in emanual_held_out(eval_data)}
    assert len(developed) == 20 and not developed & held_out
    assert developed | held_out == {question.id for question in numbered_emanual(eval_data)}


def test_the_committed_labels_copy_no_question_or_reference_from_the_eval_data() -> None:
    for name in ("labelled-answers.jsonl", "held-out-labels.jsonl"):
        rows = [json.loads(line) for line in (REPO_ROOT / "docs" / "answers" / name).read_text().splitlines()]
        copied = [row["id"] for row in rows if row["set"] in UNCOPIED_SETS and ({"question", "reference"} & set(row))]
        assert not copied, (name, copied)
