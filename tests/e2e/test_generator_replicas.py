"""Two real vLLM replicas behind one gateway (``TUTORBOOK_GATEWAY_UPSTREAMS__GENERATOR_REPLICAS``).
live; an adapter one replica does not serve is answered by the other; when one is killed with SIGKILL
under traffic, its requests move to the other and not one request fails; the skips are counted. The
second replica and the second gateway share the stack's Redis, retriever and model cache; the second
replica's resolver looks in an empty folder (as if its volume lacked the adapters)."""

import os
import re
import signal
import sys
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import eventually, free_port
from tests.e2e.conftest import ADMIN_KEY, LOAD_KEYS, another_gateway
from tutorbook_devstack.processes import ServiceProcess, start_service, wait_ready
from tutorbook_devstack.stack import GENERATOR_READY_TIMEOUT, Stack

pytestmark = pytest.mark.e2e
USER = {"Authorization": f"Bearer {LOAD_KEYS[-1]}"}  # a key of its own: its rate limit is this test's
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
def second_replica(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ServiceProcess]]:
    port = free_port()
    own_folder = str(tmp_path_factory.mktemp("replica-b-adapters"))
    env = {**stack.env, "TUTORBOOK_GENERATOR_SERVER__PORT": str(port), "TUTORBOOK_ADAPTER_DIR": own_folder}
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
    first = stack.config.url(stack.config.generator_port)
    replicas = {"TUTORBOOK_GATEWAY_UPSTREAMS__GENERATOR_REPLICAS": f"{first},{second_replica[0]}"}
    with another_gateway(stack, "gateway-b", replicas) as url:
        yield url


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


def skips(gateway_url: str, replica: str, reason: str) -> float:
    series = f'tutorbook_gateway_generator_replica_skips_total{{reason="{reason}",replica="{replica}"}}'
    metrics = httpx.get(f"{gateway_url}/metrics", timeout=10).text
    return sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(series + " "))


def ticket(number: int) -> dict[str, object]:
    text = f"I was charged twice for order {number}."
    return {"model": "e2e-triage", "messages": [{"role": "user", "content": text}], "max_tokens": 4}


def test_an_adapter_one_replica_does_not_serve_is_answered_by_the_other(
    stack: Stack, second_replica: tuple[str, ServiceProcess], balancing_gateway: str, trained_adapter: bytes
) -> None:
    second = second_replica[0]
    files = {"file": ("a.tar.gz", trained_adapter)}
    uploaded = httpx.post(f"{balancing_gateway}/v1/adapters", files=files, headers=ADMIN, timeout=120)
    assert uploaded.status_code == 201 and len(uploaded.json()["loads"]) == 2, uploaded.text
    served = uploaded.json()["served_name"]
    try:
        token = {"Authorization": f"Bearer {stack.config.internal_token}"}
        dropped = httpx.post(f"{second}/v1/unload_lora_adapter", json={"lora_name": served}, headers=token, timeout=60)
        assert dropped.status_code == 200, dropped.text  # the second replica no longer serves it
        answers = [  # each new (a cache hit would not reach a replica), so turns alternate between the two
            httpx.post(f"{balancing_gateway}/v1/chat/completions", json=ticket(number), headers=USER, timeout=150)
            for number in range(4)
        ]
        assert [answer.status_code for answer in answers] == [200] * 4, [answer.text for answer in answers]
        assert all(answer.json()["tutorbook"]["route"] == "adapter" for answer in answers)
        assert skips(balancing_gateway, second, "model_not_served") >= 1
    finally:
        httpx.delete(f"{balancing_gateway}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60)


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
    assert skips(balancing_gateway, second, "upstream_unavailable") >= 1
