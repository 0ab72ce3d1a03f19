"""The benchmarks as commands, pointed at the running e2e stack with a few requests (the full runs,
``make bench-gateway`` and ``make bench-cache``, start stacks of their own; their figures are in the
README). ``tutorbook-bench-gateway`` measures vLLM directly, a bare proxy and the gateway side by side;
``tutorbook-bench-cache`` a cache hit against a miss. Each prints its table and ratio and writes its JSON
with the machine and the command."""

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


def test_the_cache_benchmark_measures_hits_against_misses(
    stack: Stack, sample_knowledge_base: object, tmp_path: Path
) -> None:
    figures_path = tmp_path / "cache.json"
    command = [
        sys.executable, "-m", "tutorbook_devstack.bench_cache", "--misses", "3", "--hits-per-miss", "3",
        "--warm-up", "2", "--max-tokens", "4", "--gateway-url", stack.config.gateway_url, "--key", API_KEY,
        "--json", str(figures_path),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "faster than a miss at p50" in result.stdout and "state_read" in result.stdout
    figures = json.loads(figures_path.read_text())["figures"]
    assert figures["hit_ms"]["n"] == 9 and figures["miss_ms"]["n"] == 3
    assert figures["miss_over_hit_p50"] > 1  # a miss retrieves and generates; a hit does neither
