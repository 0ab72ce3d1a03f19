"""``tutorbook-eval-answers`` against the real stack, short: two sample questions and two contrast questions
asked through ``auto``, then scored against the committed hand labels (docs/answers.md)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import ADMIN_KEY

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def test_answers_are_recorded_with_their_claims_and_scored_per_policy(
    gateway_url: str, sample_knowledge_base: object, tmp_path: Path
) -> None:
    recorded, report = tmp_path / "answers.json", tmp_path / "report.json"
    asked = ["--sets", "samples,contrast", "--limit", "2", "--policy", "flag"]
    stack = ["--gateway-url", gateway_url, "--key", ADMIN_KEY, "--output", str(recorded)]
    command = [sys.executable, "-m", "tutorbook_evals.answers", "run", *asked, *stack]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=600)
    answers = json.loads(recorded.read_text())["answers"]
    assert [a["id"] for a in answers] == ["q01", "q02", "c01-q01", "c02-q02"]
    assert all(a["route"] == "rag" and a["answer_check"]["checked"] and a["claims"] is not None for a in answers)
    labels = REPO / "docs" / "answers" / "labelled-answers.jsonl"
    scored = subprocess.run(
        [sys.executable, "-m", "tutorbook_evals.answers", "score", str(recorded), "--labels", str(labels),
         "--output", str(report)],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "| policy | wrong answers caught | right answers changed |" in scored.stdout
    figures = json.loads(report.read_text())["figures"]["runs"][str(recorded)]
    coverage = figures["labels"]  # a label counts only for the exact text it was written for
    assert coverage["answers"] == 4 and coverage["labelled"] + len(coverage["unlabelled"]) == 4
    assert figures["claims_policies"]["labelled"] == coverage["labelled"]
    assert f"cover {coverage['labelled']} of 4 answers" in scored.stdout
    assert set(figures["sets"]["samples"]) == {"behaviour", "as_generated", "flag", "withhold", "quote"}
