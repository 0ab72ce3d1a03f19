"""A LoRA classifier trained to answer with a one-token code per label is answered in one decoding step:
one chat request to vLLM asking for the log-probability of every code's token, the confidence still
normalised over the whole label set. A card whose codes the served tokenizer splits is scored the
reference way; a reply that leaves a code out is an upstream error, never a guess."""

from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.unit.fakes import USER, WARRANTY, FakeAdapterCatalog, FakeGenerator, FakeRetriever, chat
from tutorbook_adapter_format.card import AdapterCard, CardError, encode_card, parse_card
from tutorbook_config.service_settings import configured
from tutorbook_gateway.adapters.catalog import ActiveAdapter
from tutorbook_gateway.app import create_app
from tutorbook_gateway.settings import GatewaySettings

LABELS = ["billing", "returns", "shipping"]


def triage(codes: list[str]) -> AdapterCard:
    return AdapterCard(name="triage", base_model="base", task_type="classifier", labels=LABELS, label_codes=codes)


@pytest.fixture
def generator() -> FakeGenerator:
    return FakeGenerator()


def gateway(generator: FakeGenerator, codes: list[str]) -> Iterator[TestClient[Litestar]]:
    settings = configured(
        GatewaySettings, keys__api_keys="user-key-for-tests-0001", keys__admin_keys="admin-key-for-tests-0001"
    )
    catalog = FakeAdapterCatalog({"triage": ActiveAdapter(triage(codes), 3)})
    with TestClient(
        create_app(settings, retriever=FakeRetriever([WARRANTY]), generator=generator, adapters=catalog)
    ) as c:
        yield c


def classify(client: TestClient[Litestar], question: str = "I was charged twice") -> Any:
    response = client.post("/v1/chat/completions", json=chat(question, model="triage"), headers=USER)
    assert response.status_code == 200, response.text
    return response.json()


def test_one_chat_request_scores_every_label_by_its_code(generator: FakeGenerator) -> None:
    generator.label_probabilities = {"billing": 0.04, "returns": 0.07, "shipping": 0.01}
    for client in gateway(generator, ["A", "B", "C"]):
        body = classify(client)
        [sent] = generator.payloads  # one request: no prompt per label
        assert sent["model"] == "triage@3" and sent["max_tokens"] == 1 and "prompt" not in sent
        assert sent["logprob_token_ids"] == [165, 166, 167] and sent["return_tokens_as_token_ids"] is True
        assert sent["messages"][0]["content"].endswith("\nbilling: A\nreturns: B\nshipping: C")
        result = body["tutorbook"]["classification"]
        assert result["label"] == "returns" and result["confidence"] == pytest.approx(0.07 / 0.12, abs=1e-4)
        assert [r["label"] for r in result["runners_up"]] == ["billing", "shipping"]
        assert result["confidence"] + sum(r["probability"] for r in result["runners_up"]) == pytest.approx(1, abs=1e-3)
        assert body["usage"]["completion_tokens"] == 1


def test_the_codes_tokens_are_rendered_once_per_code_set(generator: FakeGenerator) -> None:
    for client in gateway(generator, ["A", "B", "C"]):
        classify(client)
        first = len(generator.tokenized)
        classify(client, "Where is my parcel?")
        assert first == 1 + 3 and len(generator.tokenized) == first  # the probe and each code, once


def test_codes_the_served_tokenizer_splits_are_scored_the_reference_way(generator: FakeGenerator) -> None:
    for client in gateway(generator, ["A", "BB", "C"]):  # "BB" is two tokens here
        result = classify(client)["tutorbook"]["classification"]
        [sent] = generator.payloads
        assert sent["prompt_logprobs"] == 0 and len(sent["prompt"]) == 3  # every code's full sequence
        assert {result["label"], *(r["label"] for r in result["runners_up"])} <= set(LABELS)


def test_a_reply_without_every_code_is_an_upstream_error(generator: FakeGenerator) -> None:
    async def partial(payload: dict[str, Any]) -> dict[str, Any]:
        reply = await FakeGenerator.chat_completion(generator, payload)
        reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"].pop()
        return reply

    generator.chat_completion = partial  # type: ignore[method-assign]
    for client in gateway(generator, ["A", "B", "C"]):
        response = client.post("/v1/chat/completions", json=chat("I was charged twice", model="triage"), headers=USER)
        assert response.status_code == 502 and "no log-probability came" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("codes", "said"),
    [
        (["A", "B"], "one code per label"),
        (["A", "A", "B"], "label_codes must be distinct"),
        (["A", " B", "C"], "no space around it"),
        (["A", "B", "CCCCCCCCC"], "1-8 characters"),
    ],
)
def test_a_card_with_bad_codes_is_refused(codes: list[str], said: str) -> None:
    with pytest.raises(CardError, match=said):
        parse_card(encode_card(triage(codes)))


def test_more_labels_than_one_step_scores_cannot_answer_by_code() -> None:
    labels = [f"intent-{n}" for n in range(129)]
    codes = [f"C{n}" for n in range(129)]
    card = AdapterCard(name="wide", base_model="base", task_type="classifier", labels=labels, label_codes=codes)
    with pytest.raises(CardError, match="at most 128 labels answer by code"):
        parse_card(encode_card(card))
    parse_card(encode_card(AdapterCard(name="wide", base_model="base", task_type="classifier", labels=labels)))


def test_a_message_too_long_to_classify_is_refused_before_the_generator_is_asked(generator: FakeGenerator) -> None:
    for client in gateway(generator, ["A", "B", "C"]):
        long = client.post("/v1/chat/completions", json=chat("x " * 2001, model="triage"), headers=USER)
        assert long.status_code == 413 and "MAX_CLASSIFIED_CHARS" in long.json()["error"]["message"]
        assert generator.payloads == []
