"""Faults injected into the real stack while traffic runs: the retriever, Redis and vLLM are each killed
with SIGKILL and started again. Requests that do not need the dead part keep being answered (small talk
the router knows included); requests that do get a clear 503 in the OpenAI shape with Retry-After at
once (never a 500, never a hang); the gateway recovers by itself, with no restart, when the part
returns; the failures are counted."""

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count

import httpx
import pytest
from redis import Redis

from tests.conftest import eventually
from tests.e2e.conftest import ADMIN_KEY, API_KEY
from tutorbook_devstack.processes import wait_ready
from tutorbook_devstack.stack import GENERATOR_READY_TIMEOUT, Stack, wait_redis

pytestmark = pytest.mark.e2e
USER = {"Authorization": f"Bearer {API_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
BASE = "smollm2-135m-instruct"
SERIAL = count()


@dataclass(frozen=True)
class Answer:
    model: str
    status: int  # 0: no answer at all
    seconds: float
    code: str | None
    retry_after: str | None
    route: str | None


def ask(gateway_url: str, model: str, question: str | None = None) -> Answer:
    text = question or f"How long is the warranty on Brightleaf products? (asked {next(SERIAL)})"
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 4}
    started = time.monotonic()
    try:
        response = httpx.post(f"{gateway_url}/v1/chat/completions", json=body, headers=USER, timeout=150)
    except httpx.HTTPError:
        return Answer(model, 0, time.monotonic() - started, None, None, None)
    try:
        payload = response.json()
    except ValueError:  # a 5xx that is not even JSON must still be seen
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    return Answer(
        model,
        response.status_code,
        time.monotonic() - started,
        (payload.get("error") or {}).get("code"),
        response.headers.get("retry-after"),
        (payload.get("tutorbook") or {}).get("route"),
    )


@dataclass
class Traffic:
    """Requests for each model, one after another per model, until stopped."""

    gateway_url: str
    models: tuple[str, ...]
    answers: list[Answer] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def run(self, model: str) -> None:
        while not self.stopping.is_set():
            self.answers.append(ask(self.gateway_url, model))
            time.sleep(0.25)  # refusals come back in milliseconds: stay under the key's rate limit

    def since(self, mark: int, model: str) -> list[Answer]:
        return [answer for answer in self.answers[mark:] if answer.model == model]


@contextmanager
def traffic(gateway_url: str, *models: str) -> Iterator[Traffic]:
    running = Traffic(gateway_url, models)
    with ThreadPoolExecutor(len(models)) as pool:
        for model in models:
            pool.submit(running.run, model)
        try:
            yield running
        finally:
            running.stopping.set()


def kill(stack: Stack, name: str) -> None:
    process = stack.services[name].process
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def upstream_errors(gateway_url: str, service: str, kind: str) -> float:
    metrics = httpx.get(f"{gateway_url}/metrics", timeout=10).text
    pattern = rf'^tutorbook_gateway_upstream_errors_total\{{kind="{kind}",service="{service}"\}} (\S+)$'
    found = re.search(pattern, metrics, re.M)
    return float(found.group(1)) if found else 0.0


def wait_for_answers(running: Traffic, mark: int, model: str, enough: int = 3) -> None:
    eventually(lambda: len(running.since(mark, model)) >= enough, 120, f"{enough} answers for {model}")


def refused_clearly(answers: list[Answer], limit_seconds: float) -> bool:
    return all(a.status == 503 and a.code and a.retry_after and a.seconds < limit_seconds for a in answers)


def decided(gateway_url: str, question: str) -> tuple[int, dict[str, object]]:
    """The status and the ``tutorbook`` block of an ``auto`` answer."""
    body = {"model": "auto", "messages": [{"role": "user", "content": question}], "max_tokens": 4}
    response = httpx.post(f"{gateway_url}/v1/chat/completions", json=body, headers=USER, timeout=150)
    return response.status_code, response.json().get("tutorbook") or {}


def test_with_the_retriever_killed_retrieval_gets_503_the_base_model_answers_and_it_recovers(
    stack: Stack, gateway_url: str, sample_knowledge_base: object
) -> None:
    before = upstream_errors(gateway_url, "retriever", "upstream_unavailable")
    status, chatty = decided(gateway_url, "Hey, how is your evening going so far?")
    assert status == 200 and chatty["route"] == "prompt", chatty  # recognised as small talk, and remembered
    with traffic(gateway_url, "auto", BASE) as running:
        wait_for_answers(running, 0, "auto")
        kill(stack, "retriever")
        mark = len(running.answers)
        wait_for_answers(running, mark, "auto")
        wait_for_answers(running, mark, BASE)
        small_talk = [decided(gateway_url, "hey how is your evening going so far"), decided(gateway_url, "Hello there")]
        during = running.answers[mark:]
        stack.restart("retriever")
        wait_ready(stack.services["retriever"], stack.config.url(stack.config.retriever_port) + "/readyz", 600)
        back = len(running.answers)
        eventually(lambda: any(a.route == "rag" for a in running.since(back, "auto")), 60, "a RAG answer again")
    assert all(answer.status == 200 for answer in during if answer.model == BASE), during
    auto = [answer for answer in during if answer.model == "auto" and answer.status != 200]
    assert auto and refused_clearly(auto, limit_seconds=5), auto
    assert {answer.code for answer in auto} == {"upstream_unavailable"}
    assert [status for status, _ in small_talk] == [200, 200], small_talk  # asked before; an example
    assert all(str(block["reason"]).startswith("the retriever is unavailable") for _, block in small_talk)
    unclear = [a for a in running.answers if a.status != 200 and not (a.status in (429, 503) and a.retry_after)]
    assert unclear == [], "never a 500, never no answer"
    assert upstream_errors(gateway_url, "retriever", "upstream_unavailable") >= before + len(auto)


def test_with_redis_killed_chat_keeps_answering_and_the_cache_returns_with_redis(
    stack: Stack, gateway_url: str, sample_knowledge_base: object
) -> None:
    repeated = "How much does the AeroPure 300 cost?"
    with traffic(gateway_url, "auto", BASE) as running:
        wait_for_answers(running, 0, "auto")
        kill(stack, "redis")
        mark = len(running.answers)
        wait_for_answers(running, mark, "auto")
        wait_for_answers(running, mark, BASE)
        not_ready = httpx.get(f"{gateway_url}/readyz", timeout=10)
        during = running.answers[mark:]
        stack.restart("redis")
        wait_redis(stack.services["redis"], stack.config, stack.config.redis_port)
    assert all(answer.status == 200 for answer in during), during
    assert not_ready.status_code == 503
    eventually(lambda: httpx.get(f"{gateway_url}/readyz", timeout=10).status_code == 200, 30, "ready again")

    redis = Redis(host=stack.config.host, port=stack.config.redis_port)  # restarted empty (not persistent)

    def cached_in_redis_again() -> bool:
        cache_status(gateway_url, repeated)
        return any(True for _ in redis.scan_iter("tb:cache:*", count=100))

    eventually(cached_in_redis_again, 30, "the answer cached in Redis again")


def cache_status(gateway_url: str, question: str) -> str:
    body = {"model": "auto", "messages": [{"role": "user", "content": question}], "max_tokens": 4}
    response = httpx.post(f"{gateway_url}/v1/chat/completions", json=body, headers=USER, timeout=150)
    return str(response.headers.get("x-tutorbook-cache", ""))


def test_with_vllm_killed_generation_gets_503_at_once_and_adapters_return_with_it(
    stack: Stack, gateway_url: str, sample_knowledge_base: object, trained_adapter: bytes
) -> None:
    files = {"file": ("a.tar.gz", trained_adapter)}
    assert httpx.post(f"{gateway_url}/v1/adapters", files=files, headers=ADMIN, timeout=120).status_code == 201
    try:
        with traffic(gateway_url, BASE, "e2e-triage") as running:
            wait_for_answers(running, 0, "e2e-triage")
            kill(stack, "generator")
            mark = len(running.answers)
            wait_for_answers(running, mark, BASE)
            wait_for_answers(running, mark, "e2e-triage")
            during = running.answers[mark:]
        stack.restart("generator")
        wait_ready(stack.services["generator"], stack.config.url(stack.config.generator_port) + "/readyz",
                   GENERATOR_READY_TIMEOUT)  # fmt: skip
        failing = [answer for answer in during if answer.status != 200]
        assert failing and refused_clearly(failing, limit_seconds=5), failing
        assert {answer.code for answer in failing} == {"upstream_unavailable"}
        eventually(lambda: ask(gateway_url, BASE).status == 200, 60, "the base model again")
        again = ask(gateway_url, "e2e-triage")
        assert again.status == 200 and again.route == "adapter", "the restarted vLLM finds the adapter again"
    finally:
        httpx.delete(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60)


def ticket(gateway_url: str, model: str) -> httpx.Response:
    text = f"Which department should handle this ticket? I was charged twice for order {next(SERIAL)}."
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 4}
    return httpx.post(f"{gateway_url}/v1/chat/completions", json=body, headers=USER, timeout=150)


def test_an_adapter_that_fails_to_load_is_routed_around_and_shows_in_its_status(
    stack: Stack, gateway_url: str, sample_knowledge_base: object, trained_adapter: bytes
) -> None:
    """The adapter's weights on the generator's volume are damaged and vLLM must load them again (as after
    a restart): its resolver finds the adapter but cannot load it. The router's choice falls back, the
    reason saying so; a request naming it gets a 503 to retry; its status and metrics show the failures."""
    files = {"file": ("a.tar.gz", trained_adapter)}
    uploaded = httpx.post(f"{gateway_url}/v1/adapters", files=files, headers=ADMIN, timeout=120)
    assert uploaded.status_code == 201, uploaded.text
    served = uploaded.json()["served_name"]
    try:

        def chosen() -> bool:  # once the catalogue is re-read (each second)
            return bool(ticket(gateway_url, "auto").json()["tutorbook"]["route"] == "adapter")

        eventually(chosen, 30, "auto routing to the adapter")
        (stack.config.data_dir / "adapters" / served / "adapter_model.safetensors").write_bytes(b"\0" * 64)
        token = {"Authorization": f"Bearer {stack.config.internal_token}"}
        generator = stack.config.url(stack.config.generator_port)
        dropped = httpx.post(f"{generator}/v1/unload_lora_adapter", json={"lora_name": served}, headers=token)
        assert dropped.status_code == 200, dropped.text
        routed = ticket(gateway_url, "auto")
        assert routed.status_code == 200, routed.text
        tutorbook = routed.json()["tutorbook"]
        assert tutorbook["reason"].startswith(f"adapter {served} is not served by the generator")
        assert tutorbook["fallback"] == {"from_adapter": "e2e-triage", "because": "model_not_served"}
        named = ticket(gateway_url, "e2e-triage")
        assert named.status_code == 503 and named.headers["retry-after"], named.text
        assert named.json()["error"]["code"] == "model_not_served"
        status = httpx.get(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=10).json()
        assert status["generation_errors_last_minute"] >= 2, status
        metrics = httpx.get(f"{gateway_url}/metrics", timeout=10).text
        assert re.search(r'^tutorbook_gateway_adapter_fallbacks_total\{adapter="e2e-triage"\} [1-9]', metrics, re.M)
        assert ask(gateway_url, BASE).status == 200, "vLLM itself is unharmed"
    finally:
        httpx.delete(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60)
