"""Several gateway worker processes: /metrics adds up every worker's counts (multiprocess mode)."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client.mmap_dict import MmapedDict

from tests.conftest import INTERNAL_TOKEN, free_port, wait_until_answering


def auth_failures(path: Path) -> float:
    """One worker's own count, read from its metrics file."""
    values = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
    return float(sum(value for key, value, *_ in values if "auth_failures" in key))


def workers_that_counted(tmp_path: Path) -> int:
    return sum(1 for path in (tmp_path / "metrics").glob("counter_*.db") if auth_failures(path))


def test_metrics_count_every_workers_requests(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "TUTORBOOK_GATEWAY_SERVER__PORT": str(port),
        "TUTORBOOK_GATEWAY_SERVER__WORKERS": "2",
        "TUTORBOOK_GATEWAY_KEYS__API_KEYS": "right-key-0123456789",
        "TUTORBOOK_INTERNAL_TOKEN": INTERNAL_TOKEN,
        # nothing there: this test needs no upstream
        "TUTORBOOK_GATEWAY_UPSTREAMS__RETRIEVER_URL": "http://127.0.0.1:9",
        "TUTORBOOK_GATEWAY_UPSTREAMS__GENERATOR_URL": "http://127.0.0.1:9",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    gateway = subprocess.Popen(
        [sys.executable, "-m", "tutorbook_gateway"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{base}/healthz")
        refused = 0
        # a new connection each time; the kernel picks the worker, so send until both have taken some
        while refused < 40 or workers_that_counted(tmp_path) < 2:
            assert refused < 2000, f"one worker took all {refused} connections"
            httpx.post(f"{base}/v1/chat/completions", json={}, headers={"Authorization": "Bearer wrong"})
            refused += 1
        line = 'tutorbook_gateway_auth_failures_total{reason="invalid_api_key"}'
        for _ in range(6):  # whichever worker answers the scrape, it reports every worker's count
            scraped = [row for row in httpx.get(f"{base}/metrics").text.splitlines() if row.startswith(line)]
            assert scraped and float(scraped[0].rsplit(" ", 1)[1]) == refused
        per_worker = [auth_failures(path) for path in (tmp_path / "metrics").glob("counter_*.db")]
        assert sum(per_worker) == refused and sum(1 for count in per_worker if count) == 2, per_worker
    finally:
        gateway.terminate()
        gateway.wait(20)
