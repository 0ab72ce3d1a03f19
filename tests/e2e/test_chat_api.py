"""The chat API through the official OpenAI SDK against the real stack: every parameter, every route."""

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.e2e.conftest import API_KEY, FUZZ_KEY

pytestmark = pytest.mark.e2e
BASE = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def client(gateway_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=API_KEY, max_retries=0)


def test_multi_turn_with_every_sampling_parameter(client: openai.OpenAI, sample_knowledge_base: object) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[
            {"role": "system", "content": "You are Brightleaf's assistant. Be brief."},
            {"role": "user", "content": "Tell me about the AeroPure 300 air purifier."},
            {"role": "assistant", "content": "It is an air purifier for rooms up to 40 square metres."},
            {"role": "user", "content": "And how much does it cost?"},
        ],
        temperature=0.7,
        top_p=0.9,
        max_completion_tokens=24,
        stop=["\n\n"],
        seed=7,
        user="e2e-user",
    )
    completion = raw.parse()
    assert raw.headers["x-tutorbook-route"] == "rag"
    decision = (completion.model_extra or {})["tutorbook"]
    # The follow-up was searched together with the question before it: the AeroPure page is cited.
    assert "aeropure-300" in [citation["doc_id"] for citation in decision["citations"]]
    assert decision["reason"] and 0 <= decision["confidence"] <= 1
    usage = completion.usage
    assert usage is not None and 0 < usage.completion_tokens <= 24
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert completion.choices[0].finish_reason in ("stop", "length")


def test_a_seed_makes_sampling_repeatable_in_vllm(client: openai.OpenAI, gateway_url: str) -> None:
    """The same seed twice, each reaching vLLM (the second under another key, whose cache is its own): the
    same text; other seeds: other text."""
    other_key = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=FUZZ_KEY, max_retries=0)

    def sample(caller: openai.OpenAI, seed: int) -> str | None:
        raw = caller.chat.completions.with_raw_response.create(
            model=BASE,
            messages=[{"role": "user", "content": "Name a colour and an animal."}],
            temperature=1.0,
            seed=seed,
            max_tokens=12,
        )
        assert raw.headers["x-tutorbook-cache"] == "miss"
        return raw.parse().choices[0].message.content

    first = sample(client, 1234)
    assert sample(other_key, 1234) == first
    assert any(sample(other_key, seed) != first for seed in (1, 2, 3))


def test_a_stop_sequence_ends_the_answer_in_vllm(client: openai.OpenAI) -> None:
    question: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "Count from one to twenty in words, separated by commas."}
    ]
    whole = client.chat.completions.create(model=BASE, messages=question, temperature=0, max_tokens=24)
    text = whole.choices[0].message.content or ""
    assert len(text) >= 8, text  # whatever the model says (its words differ by CPU), a piece of its middle
    stop = text[len(text) // 2 : len(text) // 2 + 3]  # vLLM ends at its first occurrence, and leaves it out
    cut = client.chat.completions.create(model=BASE, messages=question, temperature=0, max_tokens=24, stop=[stop])
    assert cut.choices[0].finish_reason == "stop"
    assert cut.choices[0].message.content == text[: text.index(stop)]


def test_max_tokens_bounds_the_answer(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=BASE, messages=[{"role": "user", "content": "Count from one to fifty in words."}], max_tokens=5
    )
    assert completion.usage is not None and completion.usage.completion_tokens == 5
    assert completion.choices[0].finish_reason == "length"


def test_small_talk_is_prompted_and_the_route_can_be_forced(
    client: openai.OpenAI, sample_knowledge_base: object
) -> None:
    chatty = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hello there, how are you today?"}], max_tokens=16
    )
    assert chatty.headers["x-tutorbook-route"] == "prompt"
    forced = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=[{"role": "user", "content": "hello there, how are you today?"}],
        max_tokens=16,
        extra_body={"tutorbook": {"route": "abstain"}},
    )
    assert forced.headers["x-tutorbook-route"] == "abstain"
    assert (forced.parse().choices[0].message.content or "").startswith("Not sure about the answer")


def test_streams_carry_the_decision_in_header_and_first_chunk(gateway_url: str, sample_knowledge_base: object) -> None:
    client = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=API_KEY)
    with client.chat.completions.with_streaming_response.create(
        model="auto",
        messages=[{"role": "user", "content": "What is the capital of Mongolia?"}],
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        assert response.headers["x-tutorbook-route"] == "abstain"
        chunks = list(response.parse())
    assert (chunks[0].model_extra or {})["tutorbook"]["route"] == "abstain"
    assert chunks[-1].usage is not None


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"model": "gpt-9"}, openai.NotFoundError),
        ({"temperature": 5}, openai.BadRequestError),
        ({"messages": []}, openai.BadRequestError),
        ({"extra_body": {"tutorbook": {"route": "fastest"}}}, openai.BadRequestError),
    ],
)
def test_errors_reach_the_sdk_as_its_own_exceptions(
    client: openai.OpenAI, arguments: dict[str, object], error: type[openai.APIStatusError]
) -> None:
    request: dict[str, object] = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], **arguments}
    with pytest.raises(error) as raised:
        client.chat.completions.create(**request)  # type: ignore[call-overload]
    assert raised.value.body and raised.value.message
