"""The claim check on the real stack: real vLLM answers, the real retriever's embedder scores them, and
each policy shapes what leaves, whole and streamed through the OpenAI SDK."""

import re
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.conftest import ADMIN_KEY, API_KEY, another_gateway
from tutorbook_devstack.stack import Stack
from tutorbook_grounding.policy import NOT_SURE

pytestmark = pytest.mark.e2e
QUESTION = "How long is the warranty on Brightleaf products?"


@pytest.fixture(scope="module")
def client(gateway_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=API_KEY, max_retries=0)


def ask(client: openai.OpenAI, policy: str, question: str = QUESTION, **tutorbook: str) -> tuple[str, dict[str, Any]]:
    """``tutorbook``: more of the request's ``tutorbook`` object (``route="rag"``: answered from passages)."""
    answer = client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": question}], max_tokens=64,
        extra_body={"tutorbook": {"claims_policy": policy, **tutorbook}},
    )  # fmt: skip
    return answer.choices[0].message.content or "", (answer.model_extra or {})["tutorbook"]


def test_a_rag_answer_carries_checked_claims_quoting_its_passages(
    client: openai.OpenAI, sample_knowledge_base: object
) -> None:
    _, tutorbook = ask(client, "flag")
    claims = tutorbook["claims"]
    assert tutorbook["route"] == "rag" and isinstance(claims, list) and claims
    for claim in claims:
        assert claim["text"] and claim["reason"]
        if claim["supported"] and not claim["hedge"]:
            cited = tutorbook["citations"][claim["citation"]]
            assert claim["quote"] in cited["quotes"]
    assert tutorbook["answer_check"]["checked"] is True and tutorbook["answer_check"]["seconds"] < 5


def test_quote_answers_only_with_passage_sentences(client: openai.OpenAI, sample_knowledge_base: object) -> None:
    text, tutorbook = ask(client, "quote")
    quotes = [claim["quote"] for claim in tutorbook["claims"] if claim["supported"] and claim["quote"]]
    if quotes:
        assert all(f'"{quote}"' in text for quote in quotes)
    else:
        assert text.startswith(NOT_SURE)


def test_withhold_keeps_only_supported_sentences(client: openai.OpenAI, sample_knowledge_base: object) -> None:
    # The route forced to RAG: whatever the router would pick, the answer is written from passages and checked.
    text, tutorbook = ask(client, "withhold", "My thermostat shows error E4, what do I do?", route="rag")
    assert tutorbook["route"] == "rag", tutorbook["route"]
    assert tutorbook["answer_check"]["policy"] == "withhold" and tutorbook["answer_check"]["checked"] is True
    unsupported = [claim for claim in tutorbook["claims"] if not claim["supported"]]
    assert all(claim["text"] is None and claim["reason"] for claim in unsupported)  # withheld: not sent
    supported = [claim for claim in tutorbook["claims"] if claim["supported"] and not claim["hedge"]]
    assert supported or text.startswith(NOT_SURE)
    assert all(claim["text"][:20] in text for claim in supported)


def test_a_streamed_answer_brings_its_claims_in_the_last_chunk(
    client: openai.OpenAI, sample_knowledge_base: object
) -> None:
    stream = client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": QUESTION}], max_tokens=64, stream=True,
        extra_body={"tutorbook": {"claims_policy": "flag"}},
    )  # fmt: skip
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    last = chunks[-1]
    assert last.choices[0].finish_reason in ("stop", "length")
    claims = (last.model_extra or {})["tutorbook"]["claims"]
    assert claims and all(claim["text"].split(" [")[0][:20] in text for claim in claims)


@pytest.fixture(scope="module")
def judging_gateway(stack: Stack) -> Iterator[str]:
    """A second gateway on the same stack whose claim check also asks the served model, as a judge."""
    with another_gateway(
        stack, "gateway-judge", {"TUTORBOOK_GATEWAY_CLAIMS__JUDGE_MODEL": "smollm2-135m-instruct"}
    ) as url:
        yield url


def test_a_judge_model_gives_every_claim_it_was_asked_about_a_probability(
    client: openai.OpenAI, judging_gateway: str, sample_knowledge_base: object
) -> None:
    ask(client, "flag")  # the same question unjudged first: its cached answer must not answer the judged one
    judged = openai.OpenAI(base_url=f"{judging_gateway}/v1", api_key=API_KEY, max_retries=0)
    stream = judged.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": QUESTION}], max_tokens=64, stream=True,
        extra_body={"tutorbook": {"claims_policy": "flag"}},
    )  # fmt: skip
    tutorbook = (list(stream)[-1].model_extra or {})["tutorbook"]
    summary = tutorbook["answer_check"]["judge"]
    assert summary["model"] == "smollm2-135m-instruct" and "error" not in summary and summary["asked"] >= 1
    probabilities = [claim["judged"] for claim in tutorbook["claims"] if claim["judged"] is not None]
    assert len(probabilities) == summary["asked"] and all(0 <= p <= 1 for p in probabilities)
    for claim in tutorbook["claims"]:
        if claim["judged"] is not None:  # the judge's probability alone decided these
            assert claim["supported"] == (claim["judged"] >= 0.5)
    metrics = httpx.get(f"{judging_gateway}/metrics", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).text
    assert re.search(r'tutorbook_gateway_claims_judged_total\{outcome="upheld"\} [1-9]', metrics) or re.search(
        r'tutorbook_gateway_claims_judged_total\{outcome="overruled"\} [1-9]', metrics
    )
