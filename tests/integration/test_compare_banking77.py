"""``tutorbook-compare-banking77`` as a command, on a tiny subset (3 intents, 4 training and 2 test
questions each) so that it runs in seconds: it trains a real LoRA adapter and scores it against few-shot
prompting on the same held-out questions. The full comparison, ``make compare-banking77``, is in
docs/adapters.md. Skipped, and said so, where the eval data is absent."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tutorbook_evals.routing_set import default_eval_data


def test_the_banking77_comparison_trains_and_scores_both_sides(tmp_path: Path) -> None:
    eval_data = default_eval_data(REPO_ROOT)
    if eval_data is None or not (eval_data / "banking77" / "train.csv").is_file():
        pytest.skip("banking77 not found: set TUTORBOOK_EVAL_DATA to the eval-data folder")
    command = [
        sys.executable, "-m", "tutorbook_training.banking77", "--data", str(eval_data / "banking77"),
        "--intents", "3", "--train-per-intent", "4", "--test-per-intent", "2", "--epochs", "0.5",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    printed = result.stdout
    assert printed.startswith("banking77: 3 intents, 12 training and 6 test questions"), printed
    assert re.search(r"^trained in \d+ s \(\d+ steps, final loss \d+\.\d{3}\)$", printed, re.M), printed
    scores = re.findall(r"^  (LoRA adapter|few-shot prompting) .* (\d\.\d{3})$", printed, re.M)
    assert [name for name, _ in scores] == ["LoRA adapter", "few-shot prompting"], printed
    assert all(0.0 <= float(score) <= 1.0 for _, score in scores)
