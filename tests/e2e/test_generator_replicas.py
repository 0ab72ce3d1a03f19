"""Two real vLLM replicas behind one gateway (``TUTORBOOK_GENERATOR_REPLICAS``): both answer while both
live; when one is killed with SIGKILL under traffic, its requests move to the other and not one request
fails; the skips are counted. The second replica and the second gateway share the stack's Redis,
retriever, model cache and adapter folder."""

import os
import re
import signal
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import eventually, free_port
from tests.e2e.conftest import LOAD_KEYS
from tutorbook_devstack.processes import ServiceProcess, start_service, wait_ready
from tutorbook_devstack.stack import GENERATOR_READY_TIMEOUT, SERVICE_READY_TIMEOUT, Stack

pytestmark = pytest.mark.e2e
USER = {"Authorization": f"Bearer {LOAD_KEYS[-1]}"}  # a key of its own: its rate limit is this test's


@pytest.fixture(scope="module")
def second_replica(stack: Stack) -> Iterator[tuple[str, ServiceProcess]]:
    port = free_port()
    env = {**stack.env, "TUTORBOOK_GENERATOR_PORT": str(port)}
    launcher = [sys.executable, "-m", "tutorbook_generator.launcher"]
    replica = start_service("generator-b", launcher, env, stack.log_dir)
    try:
        url = stack.config.url(port)
        wait_ready(replica, url + "/readyz", GENERATOR_READY_TIMEOUT)
        yield url, replica
    finally:
        replica.stop()


@pytest.fixture(scope="module")
def balancing_gateway(stack: Stack, second_replica: tuple[str, ServiceProcess]) -> Iterator[str]:
    port = free_port()
    first = stack.config.url(stack.config.generator_port)
    env = {
        **stack.env,
        "TUTORBOOK_GATEWAY_PORT": str(port),
        "TUTORBOOK_GENERATOR_REPLICAS": f"{first},{second_replica[0]}",
    }
    gateway = start_service("gateway-b", [sys.executable, "-m", "tutorbook_gateway"], env, stack.log_dir)
    try:
        url = stack.config.url(port)
        wait_ready(gateway, url + "/readyz", SERVICE_READY_TIMEOUT)
        yield url
    finally:
        gateway.stop()


def answered(replica_url: str) -> float:
    metrics = httpx.get(f"{replica_url}/metrics", timeout=10).text
    return sum(
        float(v)
        for v in re.findall(
            r'^vllm:request_success_total\{[^}]*finished_reason="(?:stop|length)"[^}]*\} (\S+)$', metrics, re.M
        )
    )


def ask(gateway_url: str, number: int) -> int:
    body = {
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "user", "content": f"Say hi ({number})"}],
        "max_tokens": 4,
    }
    try:
        return httpx.post(f"{gateway_url}/v1/chat/completions", json=body, headers=USER, timeout=150).status_code
    except httpx.HTTPError:
        return 0


def test_traffic_moves_to_the_live_replica_when_one_is_killed(
    stack: Stack, second_replica: tuple[str, ServiceProcess], balancing_gateway: str
) -> None:
    first = stack.config.url(stack.config.generator_port)
    second, replica = second_replica
    before = answered(first), answered(second)
    assert [ask(balancing_gateway, number) for number in range(6)] == [200] * 6
    assert answered(first) > before[0] and answered(second) > before[1]  # both took turns
    statuses: list[int] = []
    stopping = threading.Event()

    def traffic() -> None:
        number = 100
        while not stopping.is_set():
            statuses.append(ask(balancing_gateway, number))
            number += 1
            stopping.wait(0.2)  # under the key's 600 requests a minute

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        eventually(lambda: len(statuses) >= 3, 120, "traffic before the kill")
        os.killpg(replica.process.pid, signal.SIGKILL)
        replica.process.wait(10)
        killed_at = len(statuses)
        eventually(lambda: len(statuses) >= killed_at + 6, 120, "traffic after the kill")
    finally:
        stopping.set()
        sender.join()
    assert statuses == [200] * len(statuses), statuses
    metrics = httpx.get(f"{balancing_gateway}/metrics", timeout=10).text
    series = f'tutorbook_gateway_generator_replica_skips_total{{reason="upstream_unavailable",replica="{second}"}}'
    skipped = [line for line in metrics.splitlines() if line.startswith(series + " ")]
    assert skipped and float(skipped[0].split()[-1]) >= 1
