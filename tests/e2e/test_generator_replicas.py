"""Two real vLLM replicas behind one gateway (``TUTORBOOK_GATEWAY_UPSTREAMS__GENERATOR_REPLICAS``): both
take turns; an adapter one replica does not serve is answered by the other; when one is killed with SIGKILL
in the middle of streaming an answer, under traffic, that stream ends in an error (never as if complete) and
is not cached, and every other request moves to the live replica; the skips are counted. The second replica
and the second gateway share the stack's Redis, retriever and model cache; the second replica's resolver
looks in an empty folder (as if its volume lacked the adapters)."""

import json
import os
import re
import secrets
import signal
import sys
import threading
from collections.abc import Iterator

import httpx
import httpx2
import openai
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


STORY = {"model": "smollm2-135m-instruct", "max_tokens": 300, "temperature": 0.0, "stream": True}


class Stream:
    """A long answer streamed through the gateway in a thread of its own, under a request id of its own
    (vLLM takes it as its own: ``chatcmpl-<id>`` in the replica's log says which replica answers it)."""

    def __init__(self, gateway_url: str, number: int) -> None:
        question = f"Count from {number} to 5000, one number per line."  # long, whatever the model
        self.number = number
        self.request_id = f"e2e-mid-stream-{number}-{secrets.token_hex(3)}"
        self.body = {**STORY, "messages": [{"role": "user", "content": question}]}
        self.events: list[str] = []
        self.cache = ""
        self.thread = threading.Thread(target=self.read, args=(gateway_url,))
        self.thread.start()

    def read(self, gateway_url: str) -> None:
        headers = {**USER, "x-request-id": self.request_id}
        try:
            with httpx.stream("POST", f"{gateway_url}/v1/chat/completions", json=self.body, headers=headers,
                              timeout=300) as response:  # fmt: skip
                self.cache = response.headers.get("x-tutorbook-cache", "")
                self.events += (line[6:] for line in response.iter_lines() if line.startswith("data: "))
        except httpx.HTTPError as exc:
            self.events.append(f"transport error: {exc!r}")

    def answered_by(self, replica: ServiceProcess) -> bool:
        return f"chatcmpl-{self.request_id}" in replica.log_path.read_text(errors="replace")

    def has_text(self) -> bool:
        return any('"content":"' in event and '"content":""' not in event for event in self.events)

    def finished(self) -> bool:
        """Ended as a complete answer does: a finish reason, then [DONE]."""
        return self.events[-1:] == ["[DONE]"] and any('"finish_reason":"' in event for event in self.events)


def assert_the_sdk_raises(events: list[str]) -> None:
    """The OpenAI SDK reading the very events the gateway sent raises the gateway's error, after the text:
    an application never takes the cut answer for a whole one. (The SDK is on httpx2, the project's
    clients on httpx: the events are replayed to it through its own transport.)"""
    body = "".join(f"data: {event}\n\n" for event in events).encode()
    headers = {"content-type": "text/event-stream"}
    replay = httpx2.MockTransport(lambda _: httpx2.Response(200, headers=headers, content=body))
    client = openai.OpenAI(
        api_key="replay", base_url="http://replay/v1", http_client=httpx2.Client(transport=replay), max_retries=0
    )
    message = json.loads(events[-1])["error"]["message"]
    with pytest.raises(openai.APIError) as raised:
        question = [{"role": "user", "content": "Count"}]
        for _ in client.chat.completions.create(model="replay", messages=question, stream=True):  # type: ignore[arg-type]
            pass
    assert message in str(raised.value)


def test_a_replica_killed_mid_answer_breaks_only_its_own_stream_and_traffic_moves_on(
    stack: Stack, second_replica: tuple[str, ServiceProcess], balancing_gateway: str
) -> None:
    """kill -9 of a real vLLM while it streams: that stream ends in an error event the OpenAI SDK raises,
    never a finish reason, and is not cached; the stream on the other replica ends whole; traffic before,
    during and after the kill gets 200s, and the killed replica's turns go to the live one."""
    first = stack.config.url(stack.config.generator_port)
    second, replica = second_replica
    before = answered(first), answered(second)
    assert [ask(balancing_gateway, number) for number in range(6)] == [200] * 6
    assert answered(first) > before[0] and answered(second) > before[1]  # both took turns
    statuses: list[int] = []
    stopping, turn = threading.Event(), threading.Lock()  # the traffic holds ``turn`` while it asks

    def traffic() -> None:
        number = 100
        while not stopping.is_set():
            with turn:
                statuses.append(ask(balancing_gateway, number))
            number += 1
            stopping.wait(0.2)  # under the key's 600 requests a minute

    sender = threading.Thread(target=traffic)
    sender.start()
    streams: list[Stream] = []
    try:
        eventually(lambda: len(statuses) >= 2, 120, "traffic before the kill")
        with turn:  # no request of the traffic's between the two: one stream to each replica, in turn
            streams += [Stream(balancing_gateway, number) for number in (1, 2)]
            eventually(lambda: all(s.answered_by(replica) or s.answered_by(stack.services["generator"])
                                   for s in streams), 60, "each stream on a replica")  # fmt: skip
        [doomed] = [stream for stream in streams if stream.answered_by(replica)]
        eventually(doomed.has_text, 120, "the doomed stream's first words")
        assert not doomed.finished(), "the stream to be cut ended before the kill"
        os.killpg(replica.process.pid, signal.SIGKILL)
        replica.process.wait(10)
        killed_at = len(statuses)
        eventually(lambda: len(statuses) >= killed_at + 6, 120, "traffic after the kill")
    finally:
        stopping.set()
        sender.join()
        for stream in streams:
            stream.thread.join(300)
    assert statuses == [200] * len(statuses), statuses
    assert skips(balancing_gateway, second, "upstream_unavailable") >= 1
    [spared] = [stream for stream in streams if stream is not doomed]
    assert spared.finished(), spared.events[-2:]
    assert not any('"finish_reason":"' in event for event in doomed.events), doomed.events[-3:]
    assert json.loads(doomed.events[-1])["error"], doomed.events[-3:]  # an error event ends it: no [DONE]
    assert "[DONE]" not in doomed.events
    assert_the_sdk_raises(doomed.events)
    again = Stream(balancing_gateway, doomed.number)  # the very request: answered anew, not from a cache
    again.thread.join(300)
    assert again.cache == "miss" and again.finished(), again.events[-2:]


def test_a_restarted_replica_holds_the_active_adapters_before_its_first_request(
    stack: Stack, second_replica: tuple[str, ServiceProcess], balancing_gateway: str, trained_adapter: bytes
) -> None:
    """The second replica (killed above) starts again on the shared adapter folder while an adapter is
    active: vLLM lists the adapter as soon as the replica listens, before any request named it (the
    resolver alone would load it on first use), and the balancing gateway's adapter requests reach it
    again with no skip."""
    second, killed = second_replica
    if killed.process.poll() is None:
        os.killpg(killed.process.pid, signal.SIGKILL)  # the kill above did not run (this test alone)
        killed.process.wait(10)
    files = {"file": ("a.tar.gz", trained_adapter)}
    uploaded = httpx.post(f"{stack.config.gateway_url}/v1/adapters", files=files, headers=ADMIN, timeout=120)
    assert uploaded.status_code == 201, uploaded.text  # active, loaded on the first replica only
    env = {**stack.env, "TUTORBOOK_GENERATOR_SERVER__PORT": second.rsplit(":", 1)[1]}  # the shared folder
    restarted = start_service("generator-b-restarted", [sys.executable, "-m", "tutorbook_generator.launcher"],
                              env, stack.log_dir)  # fmt: skip
    try:
        wait_ready(restarted, second + "/readyz", GENERATOR_READY_TIMEOUT)
        token = {"Authorization": f"Bearer {stack.config.internal_token}"}
        listed = httpx.get(f"{second}/v1/models", headers=token, timeout=30).json()["data"]
        assert uploaded.json()["served_name"] in {model["id"] for model in listed}
        skipped = skips(balancing_gateway, second, "model_not_served")
        before = answered(second)
        for number in range(200, 240):  # new texts (no cache hit); turns alternate once B is no longer set aside
            answer = httpx.post(f"{balancing_gateway}/v1/chat/completions", json=ticket(number), headers=USER,
                                timeout=150)  # fmt: skip
            assert answer.status_code == 200 and answer.json()["tutorbook"]["route"] == "adapter", answer.text
            if answered(second) > before:
                break
        assert answered(second) > before, "the restarted replica took no adapter request"
        assert skips(balancing_gateway, second, "model_not_served") == skipped
    finally:
        restarted.stop()
        httpx.delete(f"{stack.config.gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60)
