"""The claim check on RAG answers, through the gateway's API, on fakes of the retriever and generator."""

import json
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.unit.fakes import ADMIN, USER, FakeGenerator, FakeRetriever, chat
from tutorbook_grounding.policy import NOT_SURE, UNSUPPORTED_MARK

MIXED = "Two years [1]. It also covers water damage [1]."


def events(body: str) -> list[Any]:
    return [json.loads(line[6:]) for line in body.split("\n\n") if line.startswith("data: {")]


def ask(client: TestClient[Litestar], policy: str | None = "flag", **extra: object) -> Any:
    options: dict[str, object] = {"tutorbook": {"claims_policy": policy}} if policy else {}
    body = {**chat("warranty?"), **options, **extra}
    return client.post("/v1/chat/completions", json=body, headers=USER)


def test_every_rag_answer_carries_its_claims_and_each_citation_its_quote(client, upstream) -> None:
    upstream[1].answer = MIXED
    body = ask(client).json()
    supported, unsupported = body["tutorbook"]["claims"]
    assert supported["text"] == "Two years [1]." and supported["supported"] is True and not supported["hedge"]
    assert supported["citation"] == 0 and supported["quote"] == "Two years from delivery."
    assert unsupported["supported"] is False and unsupported["citation"] is None
    assert body["tutorbook"]["citations"][0]["quotes"] == ["Two years from delivery."]
    check = body["tutorbook"]["answer_check"]
    assert check["policy"] == "flag" and check["unsupported"] == 1
    # flag: the unsupported sentence stays, marked, and no longer cites a source
    assert body["choices"][0]["message"]["content"] == f"Two years [1]. It also covers water damage {UNSUPPORTED_MARK}."


@pytest.mark.parametrize(
    ("policy", "text"),
    [("withhold", "Two years [1]."), ("quote", '"Two years from delivery." [1]')],
)
def test_a_request_may_choose_the_policy(client, upstream, policy: str, text: str) -> None:
    upstream[1].answer = MIXED
    body = ask(client, policy).json()
    assert body["choices"][0]["message"]["content"] == text
    assert body["tutorbook"]["answer_check"]["withheld"] == 1


def test_withhold_with_nothing_supported_says_not_sure_and_quotes_the_closest_passage(client, upstream) -> None:
    upstream[1].answer = "It covers water damage [1]."
    text = ask(client, "withhold").json()["choices"][0]["message"]["content"]
    assert text.startswith(NOT_SURE) and "Two years from delivery." in text


def test_the_default_policy_withholds_unsupported_sentences(client, upstream) -> None:
    upstream[1].answer = MIXED
    body = ask(client, policy=None).json()
    assert body["choices"][0]["message"]["content"] == "Two years [1]."
    assert body["tutorbook"]["answer_check"]["policy"] == "withhold"
    assert [claim["text"] for claim in body["tutorbook"]["claims"]] == ["Two years [1].", None]  # not sent beside


def test_a_bad_policy_is_a_400(client) -> None:
    response = ask(client, "shout")
    assert response.status_code == 400 and "claims_policy" in response.text


def test_a_streamed_flag_answer_streams_then_its_claims_come_with_the_finish(client, upstream) -> None:
    upstream[1].answer = MIXED
    chunks = events(ask(client, stream=True).text)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == MIXED
    assert [c["supported"] for c in chunks[-1]["tutorbook"]["claims"]] == [True, False]


def test_a_streamed_withheld_answer_sends_only_what_the_check_kept(client, upstream) -> None:
    upstream[1].answer = MIXED
    chunks = events(ask(client, "withhold", stream=True).text)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Two years [1]."


def test_a_repeating_answer_is_cut_at_the_repeat_and_vllm_is_told_to_stop(client, upstream) -> None:
    generator: FakeGenerator = upstream[1]
    generator.answer = "Two years [1]. " + "You may need to replace the battery. " * 20
    chunks = events(ask(client, stream=True).text)
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks).strip() == (
        "Two years [1]. You may need to replace the battery."
    )
    stream = generator.streams[0]
    assert stream.closed and stream.sent < 25  # of 142 chunks
    assert chunks[-1]["tutorbook"]["answer_check"]["stopped_runaway"] is True


def test_answers_not_written_from_passages_are_not_checked(client, upstream) -> None:
    retriever: FakeRetriever = upstream[0]
    body = client.post("/v1/chat/completions", json=chat("hi", tutorbook={"route": "prompt"}), headers=USER).json()
    assert "claims" not in body["tutorbook"] and retriever.similarity_calls == 0


def test_claims_are_counted_and_feedback_says_how_the_answer_was_checked(client, upstream) -> None:
    upstream[1].answer = MIXED
    answer_id = ask(client).json()["id"]
    feedback = client.post("/v1/feedback", json={"response_id": answer_id, "rating": "down"}, headers=USER)
    assert feedback.json()["claims"] == "unsupported"
    metrics = client.get("/metrics").text
    assert 'tutorbook_gateway_answer_claims_total{model="base",route="rag",verdict="unsupported"} 1.0' in metrics
    assert 'tutorbook_gateway_answer_claims_total{model="base",route="rag",verdict="supported"} 1.0' in metrics
    assert 'tutorbook_gateway_feedback_by_claims_total{claims="unsupported",rating="down"} 1.0' in metrics
    assert 'tutorbook_gateway_phase_duration_seconds_count{phase="claim_check"} 1.0' in metrics
    assert client.get("/v1/feedback", headers=ADMIN).json()["data"][0]["claims"] == "unsupported"


def test_when_the_check_cannot_run_flag_says_so_and_withhold_does_not_guess(client, upstream) -> None:
    from tutorbook_service.errors import ServiceUnavailableError

    upstream[1].answer = MIXED
    retriever: FakeRetriever = upstream[0]
    original = retriever.similarities

    async def failing(texts: list[str], candidates: list[str]) -> list[list[float]]:
        raise ServiceUnavailableError("retriever down")

    retriever.similarities = failing  # type: ignore[method-assign]
    flagged = ask(client).json()
    assert flagged["tutorbook"]["claims"] is None and flagged["tutorbook"]["answer_check"]["checked"] is False
    assert flagged["choices"][0]["message"]["content"] == MIXED
    assert ask(client, "withhold").json()["choices"][0]["message"]["content"].startswith(NOT_SURE)
    retriever.similarities = original  # type: ignore[method-assign]
