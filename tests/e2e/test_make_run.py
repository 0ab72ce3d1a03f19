"""``make run`` as a new user runs it (``python -m tutorbook_devstack run``, what the target starts once
the install is done), on free ports in an empty folder: it generates keys into ``.env``, starts Redis, the
retriever, vLLM and the gateway, loads the sample knowledge base, prints the curl to try; that request is
answered from the knowledge base; Ctrl-C stops every process it started."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import REPO_ROOT, free_port

pytestmark = pytest.mark.e2e
READY_SECONDS = 600
QUESTION = "How long is the warranty on Brightleaf products?"


def test_make_run_starts_everything_answers_the_printed_example_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("GATEWAY", "RETRIEVER", "GENERATOR")}
    env = {key: value for key, value in os.environ.items() if not key.startswith("TUTORBOOK_")}
    env.update({f"TUTORBOOK_{name}_SERVER__PORT": str(port) for name, port in ports.items()})
    env["TUTORBOOK_REDIS_PORT"] = str(free_port())
    env["TUTORBOOK_RECORDS_REDIS_PORT"] = str(free_port())
    env["TUTORBOOK_DATA_DIR"] = str(tmp_path / "data")
    env["TUTORBOOK_MODEL_CACHE_DIR"] = str(REPO_ROOT / "data" / "models")  # converted model, ONNX export: shared
    command = [
        sys.executable,
        "-m",
        "tutorbook_devstack",
        "run",
        "--samples",
        str(REPO_ROOT / "samples/knowledge_base"),
    ]
    output = tmp_path / "make-run.out"
    with output.open("wb") as sink:
        run = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + READY_SECONDS
        while "Ctrl-C stops everything" not in output.read_text() and time.monotonic() < deadline:
            assert run.poll() is None, output.read_text()
            time.sleep(1)
        printed = output.read_text()
        assert "Tutorbook is ready" in printed and "Loaded the sample knowledge base" in printed, printed
        api_key = re.search(r"^API key: +(\S+)", printed, re.M)
        assert api_key is not None and api_key.group(1) in (tmp_path / ".env").read_text()
        body = {
            "model": "auto",
            "messages": [{"role": "user", "content": "How long is the warranty on Brightleaf products?"}],
        }
        answer = httpx.post(f"http://127.0.0.1:{ports['GATEWAY']}/v1/chat/completions", json=body, timeout=120,
                            headers={"Authorization": f"Bearer {api_key.group(1)}"})  # fmt: skip
        assert answer.status_code == 200 and answer.json()["tutorbook"]["citations"][0]["doc_id"] == "warranty"
        children = psutil.Process(run.pid).children(recursive=True)
        assert len(children) >= 4  # Redis, retriever, vLLM (and its engine), gateway
    finally:
        run.send_signal(signal.SIGINT)
        code = run.wait(120)
    assert code == 0 and "Stopped." in output.read_text()
    _, alive = psutil.wait_procs(children, timeout=30)
    assert alive == [], [process.pid for process in alive]
