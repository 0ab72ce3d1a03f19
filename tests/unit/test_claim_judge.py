"""The judge model's second opinion on the claim check: which claims it may change, and how an answer
reads when it has spoken (through the gateway's API, on fakes of the retriever and generator)."""

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.unit.conftest import gateway_on
from tests.unit.fakes import USER, FakeGenerator, FakeRetriever, chat, scored_prompt
from tutorbook_gateway.chat.claim_judging import ClaimJudge
from tutorbook_gateway.chat.classifying import LabelTokens
from tutorbook_gateway.chat.config import JudgeConfig
from tutorbook_grounding.judging import (
    JudgeQuestion,
    judge_messages,
    judge_questions,
    overrule,
    supported_at,
)
from tutorbook_grounding.policy import NOT_SURE
from tutorbook_grounding.support import NOT_CLOSE, Candidate, Claim, Passage
from tutorbook_service.errors import UpstreamError

MIXED = "Two years [1]. It also covers water damage [1]."
PASSAGES = [Passage("Brightleaf > Warranty", "Two years from delivery. It costs $39 a year.")]


@pytest.fixture
def judged_client(upstream: tuple[FakeRetriever, FakeGenerator], tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    with gateway_on(upstream, tmp_path, claims__judge_model="judge-model") as test_client:
        yield test_client


def ask(client: TestClient[Litestar], policy: str = "flag") -> Any:
    body = {**chat("warranty?"), "tutorbook": {"claims_policy": policy}}
    return client.post("/v1/chat/completions", json=body, headers=USER).json()


def judge_says(generator: FakeGenerator, yes: float) -> None:
    generator.label_probabilities = {"Yes": yes, "No": 1 - yes}


def test_a_judge_that_says_no_withdraws_the_support_the_check_gave(judged_client, upstream) -> None:
    upstream[1].answer = "Two years [1]."
    judge_says(upstream[1], 0.1)
    body = ask(judged_client, "withhold")
    (claim,) = body["tutorbook"]["claims"]
    assert claim["supported"] is False and claim["judged"] == pytest.approx(0.1)
    assert "the judge finds [1] does not support it" in claim["reason"]
    assert body["choices"][0]["message"]["content"].startswith(NOT_SURE)
    judged = body["tutorbook"]["answer_check"]["judge"]
    assert judged["model"] == "judge-model" and judged["asked"] == 1 and judged["overruled"] == 1


def test_the_judge_is_asked_once_for_every_claim_in_one_batched_request(judged_client, upstream) -> None:
    upstream[1].answer = MIXED
    judge_says(upstream[1], 0.9)
    body = ask(judged_client)
    scored = [payload for payload in upstream[1].payloads if "prompt" in payload]
    assert len(scored) == 1 and scored[0]["model"] == "judge-model"
    assert len(scored[0]["prompt"]) == 4  # two claims, each followed by "Yes" and by "No"
    # the claim no passage sentence came close to is supported now: its closest passage states it, says the judge
    supported, rescued = body["tutorbook"]["claims"]
    assert supported["supported"] and supported["judged"] == pytest.approx(0.9)
    assert rescued["supported"] and rescued["citation"] == 0 and rescued["quote"] == "Two years from delivery."
    assert body["tutorbook"]["answer_check"]["judge"]["overruled"] == 1


def test_when_the_judge_fails_the_checks_verdicts_stand_and_say_so(judged_client, upstream) -> None:
    upstream[1].answer = MIXED

    async def failing(payload: dict[str, Any]) -> dict[str, Any]:
        raise UpstreamError("vLLM said 500")

    upstream[1].completion = failing
    body = ask(judged_client)
    assert [claim["supported"] for claim in body["tutorbook"]["claims"]] == [True, False]
    assert [claim["judged"] for claim in body["tutorbook"]["claims"]] == [None, None]
    assert "vLLM said 500" in body["tutorbook"]["answer_check"]["judge"]["error"]
    metrics = judged_client.get("/metrics").text
    assert 'tutorbook_gateway_claims_judged_total{outcome="failed"} 2.0' in metrics


def test_without_a_judge_model_nothing_is_asked(client, upstream) -> None:
    upstream[1].answer = MIXED
    body = ask(client)
    assert "judge" not in body["tutorbook"]["answer_check"]
    assert not [payload for payload in upstream[1].payloads if "prompt" in payload]


def claim(text: str, supported: bool, reason: str, **fields: Any) -> Claim:
    return Claim(text, supported, fields.pop("citation", None), fields.pop("quote", None), reason, **fields)


def test_the_judge_is_not_asked_about_hedges_or_facts_a_passage_contradicts() -> None:
    closest = Candidate(0, "It costs $39 a year.")
    claims = [
        claim("Two years [1].", True, "supported", citation=0, quote="Two years from delivery."),
        claim("I am not sure.", True, "says the answer is not known", hedge=True),
        claim("It costs $99 a year.", False, "passage [1] does not state 99 usd", closest=closest),
        claim("It covers drops.", False, NOT_CLOSE, closest=closest),
        claim("It costs $99 a year, as a plan.", False, NOT_CLOSE, closest=closest),  # never supported by a yes
    ]
    assert judge_questions(claims, PASSAGES) == [JudgeQuestion(0, 0), JudgeQuestion(3, 0)]


def test_the_judges_probability_alone_decides_and_a_replay_can_move_its_threshold() -> None:
    supported = claim("Two years [1].", True, "supported", citation=0, quote="Two years from delivery.")
    unsure = claim("It covers drops.", False, NOT_CLOSE, closest=Candidate(0, "Two years from delivery."))
    vetoed = overrule(supported, JudgeQuestion(0, 0), 0.3, 0.5)
    rescued = overrule(unsure, JudgeQuestion(1, 0), 0.8, 0.5)
    assert not vetoed.supported and vetoed.closest == Candidate(0, "Two years from delivery.")
    assert rescued.supported and rescued.citation == 0 and rescued.quote == "Two years from delivery."
    upheld = overrule(supported, JudgeQuestion(0, 0), 0.6, 0.5)
    assert upheld.supported and upheld.reason == "supported"
    recorded = [Claim.from_dict(c.as_dict()) for c in (vetoed, rescued, upheld)]
    assert [supported_at(c, None) for c in recorded] == [True, False, True]  # as the check alone said
    assert [supported_at(c, 0.7) for c in recorded] == [False, True, False]
    assert [supported_at(c, 0.2) for c in recorded] == [True, True, True]


def test_the_judge_reads_the_statement_without_its_citation_marks() -> None:
    system, user = judge_messages("Two years [1].", PASSAGES[0], 12)
    assert "Statement: Two years." in user["content"] and "Two years fr\n" in user["content"]
    assert system["role"] == "system" and "Brightleaf > Warranty" in user["content"]


def recorded(number: int, claims: list[Claim], correct: bool) -> tuple[dict[str, Any], str]:
    record = {
        "set": "samples", "id": f"q{number}", "route": "rag", "reference": "two years from delivery",
        "answer": " ".join(c.text for c in claims), "claims": [c.as_dict() for c in claims],
        "citations": [{"title": "Warranty", "section": "", "snippet": "Two years from delivery."}],
    }  # fmt: skip
    return record, "correct" if correct else "wrong"


def test_the_judges_threshold_is_replayed_on_recorded_answers_with_no_judge_beside_it() -> None:
    from tutorbook_evals.answers.judge_replay import judge_sweep
    from tutorbook_evals.answers.labels import labels_of

    right = claim("Two years from delivery [1].", True, "supported", citation=0, quote="Two years from delivery.")
    wrong = claim("It covers drops [1].", True, "supported", citation=0, quote="Two years from delivery.")
    records = [
        recorded(1, [overrule(right, JudgeQuestion(0, 0), 0.8, 0.5)], correct=True),
        recorded(2, [overrule(wrong, JudgeQuestion(0, 0), 0.4, 0.5)], correct=False),
    ]
    labels = labels_of(
        ("test", {"set": "samples", "id": r["id"], "answer": r["answer"], "correct": kind == "correct"})
        for r, kind in records
    )
    no_judge, at_half, strict = judge_sweep([r for r, _ in records], labels, [0.5, 0.9])
    assert (no_judge["caught"], no_judge["false_flags"]) == (0, 0)  # the check alone supported both
    assert (at_half["caught"], at_half["false_flags"]) == (1, 0)  # the judge withdrew the wrong one's support
    assert (strict["caught"], strict["false_flags"]) == (1, 1) and strict["token_f1"] < at_half["token_f1"]


def test_each_claim_gets_its_own_probability_whatever_order_vllm_answers_in() -> None:
    chances = {"Two years.": 0.9, "It covers drops.": 0.2}
    generator = FakeGenerator()

    async def completion(payload: dict[str, Any]) -> dict[str, Any]:
        choices = []
        for index, prompt in enumerate(payload["prompt"]):
            text = "".join(chr(token - 100) for token in prompt if token >= 100)
            yes = next(chance for statement, chance in chances.items() if f"Statement: {statement}" in text)
            choices.append({"index": index, **scored_prompt(prompt, {"Yes": yes, "No": 1 - yes})})
        return {"choices": choices[::-1]}  # vLLM need not answer in order: the index says which is which

    generator.completion = completion  # type: ignore[method-assign]
    quoted = {"citation": 0, "quote": "Two years from delivery."}
    claims = [claim("Two years [1].", True, "supported", **quoted), claim("It covers drops [1].", True, "x", **quoted)]
    judge = ClaimJudge(generator, LabelTokens(), JudgeConfig("judge"))
    report = asyncio.run(judge.review(claims, PASSAGES))
    assert [c.judged for c in report.claims] == [pytest.approx(0.9), pytest.approx(0.2)]
    assert [c.supported for c in report.claims] == [True, False] and report.summary["overruled"] == 1
