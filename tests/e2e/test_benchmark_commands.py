"""``tutorbook-bench-gateway`` as a command, pointed at the running e2e stack with a few requests: it
measures vLLM directly, a bare proxy and the gateway side by side, prints the table and the ratio, and
writes its JSON with the machine and the command. (The full run, ``make bench-gateway``, starts a stack of
its own with the cache off; its figures are in the README.)"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import API_KEY
from tutorbook_devstack.stack import Stack

pytestmark = pytest.mark.e2e


def test_the_gateway_benchmark_measures_three_paths_side_by_side(stack: Stack, tmp_path: Path) -> None:
    config = stack.config
    figures_path = tmp_path / "gateway.json"
    command = [
        sys.executable, "-m", "tutorbook_devstack.bench_gateway", "--requests", "10", "--warm-up", "2",
        "--gateway-url", config.gateway_url, "--generator-url", config.url(config.generator_port),
        "--key", API_KEY, "--internal-token", config.internal_token, "--json", str(figures_path),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "router decision (no embedding): p50" in result.stdout
    assert "through the gateway" in result.stdout and "ratio gateway / direct at p50:" in result.stdout
    written = json.loads(figures_path.read_text())
    assert written["benchmark"] == "gateway" and written["machine"] and "--requests 10" in written["command"]
    figures = written["figures"]
    for path in ("direct_ms", "bare_proxy_ms", "gateway_ms"):
        assert figures[path]["n"] == 10 and 0 < figures[path]["p50"] <= figures[path]["p99"], (path, figures[path])
    assert figures["ratio_p50"] > 0
