"""The ML team's commands, run as commands: ``tutorbook-upload-adapter`` against the real stack (stored,
hot-loaded, answering; a broken folder refused in plain words), ``tutorbook-eval-adapter`` on a few
held-out examples (its scores printed and written into the adapter's card), and an embedding classifier
trained, uploaded and answering."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import SAMPLES
from tests.e2e.conftest import ADMIN_KEY, API_KEY
from tutorbook_devstack.stack import Stack

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def run(module: str, *arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", module, *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=cwd)


def test_the_upload_command_stores_and_loads_an_adapter_and_explains_a_refusal(
    gateway_url: str, trained_adapter_folder: Path, tmp_path: Path
) -> None:
    try:
        uploaded = run("tutorbook_training.upload", str(trained_adapter_folder), "--url", gateway_url,
                       "--key", ADMIN_KEY, cwd=tmp_path)  # fmt: skip
        assert uploaded.returncode == 0, uploaded.stderr
        printed = json.loads(uploaded.stdout)
        assert printed["name"] == "e2e-triage" and all(load["ok"] for load in printed["loads"])
        body = {"model": "e2e-triage", "messages": [{"role": "user", "content": "My parcel never came."}]}
        answer = httpx.post(f"{gateway_url}/v1/chat/completions", json=body, timeout=120,
                            headers={"Authorization": f"Bearer {API_KEY}"})  # fmt: skip
        assert answer.status_code == 200 and answer.json()["tutorbook"]["adapter"]["version"] == printed["version"]
        broken = tmp_path / "broken"
        shutil.copytree(trained_adapter_folder, broken)
        (broken / "adapter_model.safetensors").unlink()
        refused = run("tutorbook_training.upload", str(broken), "--url", gateway_url, "--key", ADMIN_KEY, cwd=tmp_path)
        assert refused.returncode == 1
        assert refused.stderr.strip() == "refused (400): the archive has no adapter_model.safetensors"
    finally:
        httpx.delete(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60)


def test_the_evaluation_command_scores_the_adapter_against_few_shot_prompting(
    trained_adapter_folder: Path, tmp_path: Path
) -> None:
    adapter = tmp_path / "adapter"
    shutil.copytree(trained_adapter_folder, adapter)
    triage = SAMPLES / "support_triage"
    result = run("tutorbook_training.evaluate", str(adapter), str(triage / "test.jsonl"),
                 "--shots-from", str(triage / "train.jsonl"), "--limit", "6", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("6 held-out examples, accuracy:"), result.stdout
    printed = {  # path name: (score, calibration error), as the command prints them
        found.group(1): (float(found.group(2)), float(found.group(3)))
        for line in result.stdout.splitlines()[1:]
        if (found := re.match(r"^  (.+?)\s+(\d\.\d{3}) \(calibration error (\d\.\d{3})\)$", line))
    }
    few_shot = next(figures for name, figures in printed.items() if name.startswith("few-shot prompting"))
    served, reference = printed["adapter, one step (served)"], printed["adapter, every code in full"]  # by code
    assert all(0.0 <= value <= 1.0 for figures in printed.values() for value in figures), result.stdout
    recorded = json.loads((adapter / "tutorbook.json").read_text())["eval"]
    assert recorded["examples"] == 6 and recorded["metric"] == "accuracy"
    assert [recorded["adapter_accuracy"], recorded["few_shot_accuracy"]] == pytest.approx(
        [served[0], few_shot[0]], abs=0.001
    )
    calibration = [recorded["adapter_calibration_error"], recorded["few_shot_calibration_error"]]
    assert calibration == pytest.approx([served[1], few_shot[1]], abs=0.001)
    assert recorded["reference_accuracy"] == pytest.approx(reference[0], abs=0.001)


def test_an_embedding_classifier_is_trained_uploaded_and_answers_without_generating(
    stack: Stack, gateway_url: str, tmp_path: Path
) -> None:
    """Trained by the same CLI on the retriever's embedder (the stack's settings), uploaded by the same
    command, answered by the gateway from the retriever's embedding: no tokens generated."""
    folder = tmp_path / "triage-emb"
    triage = SAMPLES / "support_triage"
    env = {**os.environ, "TUTORBOOK_MODEL_CACHE_DIR": str(stack.config.model_cache_dir)}  # the ONNX export
    trained = subprocess.run(
        [sys.executable, "-m", "tutorbook_training.train", str(triage / "train.jsonl"), "--name", "e2e-emb",
         "--kind", "embedding-classifier", "--output", str(folder)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert re.search(r"cross-validated accuracy \d\.\d{3}", trained.stdout), trained.stdout
    evaluated = subprocess.run(
        [sys.executable, "-m", "tutorbook_training.evaluate", str(folder), str(triage / "test.jsonl"),
         "--shots-from", str(triage / "train.jsonl"), "--limit", "4"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    recorded = json.loads((folder / "tutorbook.json").read_text())["eval"]
    assert recorded["examples"] == 4 and 0 <= recorded["adapter_accuracy"] <= 1  # what the upload gate reads
    try:
        uploaded = run("tutorbook_training.upload", str(folder), "--url", gateway_url, "--key", ADMIN_KEY, cwd=tmp_path)
        assert uploaded.returncode == 0, uploaded.stderr
        assert json.loads(uploaded.stdout)["loads"] == []  # nothing for vLLM
        question, label = first_example(triage / "test.jsonl")
        body = {"model": "e2e-emb", "messages": [{"role": "user", "content": question}]}
        answer = httpx.post(f"{gateway_url}/v1/chat/completions", json=body, timeout=60,
                            headers={"Authorization": f"Bearer {API_KEY}"})  # fmt: skip
        assert answer.status_code == 200, answer.text
        result = answer.json()
        labels = json.loads((folder / "tutorbook.json").read_text())["labels"]
        assert result["tutorbook"]["classification"]["label"] in labels and label in labels
        assert 0 < result["tutorbook"]["classification"]["confidence"] <= 1
        assert result["usage"]["total_tokens"] == 0
    finally:
        httpx.delete(f"{gateway_url}/v1/adapters/e2e-emb", headers=ADMIN, timeout=60)


def first_example(path: Path) -> tuple[str, str]:
    row = json.loads(path.read_text().splitlines()[0])
    return str(row["text"]), str(row["label"])
