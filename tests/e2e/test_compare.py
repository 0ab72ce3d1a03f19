"""``tutorbook-compare`` as a command against the real stack, short: the support-triage sample through every
path (the trained adapter uploaded first) and the sample knowledge base's questions; the advisor then
reads the classification result from the gateway's own comparisons folder."""

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ADMIN_KEY, API_KEY
from tutorbook_devstack.stack import Stack

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
USER = {"Authorization": f"Bearer {API_KEY}"}
ANSWERS = {
    "task": "classification",
    "information_changes": "rarely",
    "labelled_examples": "100_to_1000",
    "requests_per_day": "1000_to_100000",
    "latency": "interactive",
    "citations": "no",
    "ml_capacity": "yes",
}


def compare(gateway_url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tutorbook_evals.compare.cli", *arguments, "--gateway-url", gateway_url]
    return subprocess.run([*command, "--key", ADMIN_KEY], capture_output=True, text=True, timeout=900)


def paths_of(folder: Path) -> dict[str, dict[str, object]]:
    comparison = json.loads((folder / "comparison.json").read_text())
    return {path["path"]: path for path in comparison["paths"]}


def test_a_classification_comparison_through_every_path_feeds_the_advisor(
    stack: Stack, gateway_url: str, trained_adapter: bytes
) -> None:
    output = stack.config.data_dir / "comparisons" / "support-triage"
    try:
        uploaded = httpx.post(f"{gateway_url}/v1/adapters", files={"file": ("a.tar.gz", trained_adapter)},
                              headers=ADMIN, timeout=120)  # fmt: skip
        assert uploaded.status_code == 201, uploaded.text
        result = compare(
            gateway_url, "support-triage", "--adapter", "e2e-triage", "--limit", "3", "--output", str(output)
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "recommendation (" in result.stdout
    finally:
        httpx.delete(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60)
    paths = paths_of(output)
    assert list(paths) == ["zero_shot", "few_shot", "adapter", "router", "embedding_classifier"]
    for name, path in paths.items():
        figures = path["figures"]
        assert isinstance(figures, dict) and figures["errors"] == 0 and figures["cache_hits"] == 0, (name, figures)
        assert 0.0 <= figures["accuracy"] <= 1.0 and 0.0 <= figures["macro_f1"] <= 1.0
    assert "calibration_error" in paths["adapter"]["figures"]  # type: ignore[operator]
    assert paths["few_shot"]["prompt_tokens"] > paths["zero_shot"]["prompt_tokens"] > 0  # type: ignore[operator]
    report = (output / "report.md").read_text()
    assert "**Recommendation:" in report and (output / "quality-tokens.png").is_file()
    advice = httpx.post(f"{gateway_url}/v1/advisor", json={"answers": ANSWERS, "dataset": "support-triage"},
                        headers=USER, timeout=30).json()  # fmt: skip
    assert advice["measured"]["dataset"] == "support-triage"
    assert advice["measured"]["verdict"] in {"confirmed", "overruled"}


def test_a_question_answering_comparison_measures_answers_and_citations(
    gateway_url: str, sample_knowledge_base: object, tmp_path: Path
) -> None:
    result = compare(gateway_url, "samples", "--limit", "6", "--max-tokens", "32", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    paths = paths_of(tmp_path)
    assert list(paths) == ["zero_shot", "few_shot", "rag", "router"]
    rag = paths["rag"]["figures"]
    assert isinstance(rag, dict) and rag["errors"] == 0 and 0.0 <= rag["recall_at_k"] <= 1.0
    assert 0.0 <= rag["token_f1"] <= 1.0 and "abstain_rate" in rag
    assert "recall_at_k" not in paths["zero_shot"]["figures"]  # type: ignore[operator]
