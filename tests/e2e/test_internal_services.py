"""The retriever and vLLM trust only the gateway: on the real stack, a request to them without the
internal token is refused (vLLM's runtime LoRA loading included), while probes and metrics stay open."""

import httpx
import pytest

from tutorbook_devstack.stack import Stack
from tutorbook_service.internal_auth import bearer_header

pytestmark = pytest.mark.e2e


def test_only_the_internal_token_opens_the_retriever_and_vllm(stack: Stack) -> None:
    retriever = stack.config.url(stack.config.retriever_port)
    generator = stack.config.url(stack.config.generator_port)
    body = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1}
    load = {"lora_name": "intruder", "lora_path": "/etc"}
    for headers in ({}, bearer_header("not-the-internal-token-000")):
        assert httpx.get(f"{retriever}/v1/documents", headers=headers).status_code == 401
        assert httpx.post(f"{generator}/v1/chat/completions", json=body, headers=headers).status_code == 401
        assert httpx.post(f"{generator}/v1/load_lora_adapter", json=load, headers=headers).status_code == 401
        # paths vLLM itself leaves open: a whole chat completion, and the tokenizer
        assert httpx.post(f"{generator}/invocations", json=body, headers=headers).status_code == 401
        assert httpx.post(f"{generator}/tokenize", json={"prompt": "hi"}, headers=headers).status_code == 401
    for url in (retriever, generator):
        assert httpx.get(f"{url}/metrics").status_code == 200 and httpx.get(f"{url}/readyz").status_code == 200
    token = bearer_header(stack.config.internal_token)
    assert httpx.get(f"{retriever}/v1/documents", headers=token).status_code == 200
    answered = httpx.post(f"{generator}/v1/chat/completions", json=body, headers=token, timeout=60)
    assert answered.status_code == 200
    assert httpx.post(f"{generator}/tokenize", json={"prompt": "hi"}, headers=token).status_code == 200
