"""Streaming through the gateway with real vLLM: the OpenAI SDK unchanged, and disconnects cancel generation."""

import re
import time

import httpx
import openai
import pytest

from tests.e2e.conftest import API_KEY
from tutorbook_devstack.stack import Stack

pytestmark = pytest.mark.e2e


def vllm_metric(stack: Stack, name: str, labels: str = "") -> float:
    """Sum of a vLLM metric's samples whose labels contain ``labels`` (e.g. 'finished_reason="abort"')."""
    text = httpx.get(f"{stack.config.url(stack.config.generator_port)}/metrics").text
    samples = re.findall(rf"^{re.escape(name)}(\{{[^}}]*\}})? ([0-9.e+-]+)$", text, re.M)
    return sum(float(value) for found_labels, value in samples if labels in found_labels)


def test_the_sdk_streams_a_cited_answer(gateway_url: str, sample_knowledge_base: object) -> None:
    client = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=API_KEY)
    stream = client.chat.completions.create(
        model="auto",
        messages=[{"role": "user", "content": "How long is the warranty on Brightleaf products?"}],
        max_tokens=48,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text.strip()
    decision = (chunks[0].model_extra or {})["tutorbook"]
    assert decision["route"] == "rag" and decision["citations"][0]["doc_id"] == "warranty"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_a_client_disconnect_cancels_the_generation(stack: Stack, gateway_url: str) -> None:
    # At temperature 0 the base model repeats "hello" until max_tokens: over a minute of work on this machine.
    body = {
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "user", "content": "Repeat the word hello 1000 times."}],
        "max_tokens": 1024,  # the ceiling (TUTORBOOK_GATEWAY_LIMITS__MAX_TOKENS): still half a minute of work here
        "stream": True,
    }
    tokens_before = vllm_metric(stack, "vllm:generation_tokens_total")
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.stream("POST", f"{gateway_url}/v1/chat/completions", json=body, headers=headers, timeout=60) as response:
        assert response.status_code == 200
        received = 0
        for line in response.iter_lines():
            received += line.startswith("data: ")
            if received >= 5:
                break  # leaving the block closes the connection mid-stream
    deadline = time.monotonic() + 10
    while vllm_metric(stack, "vllm:num_requests_running") > 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert vllm_metric(stack, "vllm:num_requests_running") == 0, "vLLM went on generating after the client left"
    generated = vllm_metric(stack, "vllm:generation_tokens_total") - tokens_before
    assert generated < 600, f"{generated:.0f} tokens generated for a client that left after 5 chunks"
    gateway_metrics = httpx.get(f"{gateway_url}/metrics").text
    assert 'tutorbook_gateway_chat_requests_total{model="base",route="prompt",status="499"} 1.0' in gateway_metrics
