"""The routing evaluation, as the command ``tutorbook-eval-routing``: real embedder, real embedded Qdrant,
the gateway's own router and thresholds, on CLINC150's test split (skipped, and said so in pytest's
summary, where the eval data is absent)."""

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from tutorbook_evals.routing_set import default_eval_data


def test_the_router_routes_at_least_95_percent_of_the_test_split() -> None:
    eval_data = default_eval_data(REPO_ROOT)
    if eval_data is None:
        pytest.skip("clinc150 not found: set TUTORBOOK_EVAL_DATA to the eval-data folder")
    command = [sys.executable, "-m", "tutorbook_evals.routing", "--split", "test", "--eval-data", str(eval_data)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    printed = result.stdout
    print(printed)
    found = re.search(r"routing set \(test split\): (\d+) requests; accuracy (\d\.\d+)", printed)
    assert found is not None, printed
    assert int(found.group(1)) > 200 and float(found.group(2)) >= 0.95, printed
    assert "confusion matrix" in printed and "router decision" in printed
