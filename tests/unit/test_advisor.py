"""The approach advisor: the questionnaire's answers lead to the approach the seed's rules give, with the
reasons that decided it, and measured figures confirm or overrule it (API and CLI)."""

import json
from pathlib import Path

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.unit.fakes import USER
from tutorbook_evals import advise
from tutorbook_gateway.advisor import recommend
from tutorbook_gateway.advisor.measured import Comparison, PathResult, best_measured
from tutorbook_gateway.advisor.questionnaire import QUESTIONS, AnswerError, parse_answers

TRIAGE = {
    "task": "classification",
    "information_changes": "rarely",
    "labelled_examples": "over_1000",
    "requests_per_day": "1000_to_100000",
    "latency": "interactive",
    "citations": "no",
    "ml_capacity": "yes",
}
PRODUCT_QA = {**TRIAGE, "task": "product_qa", "information_changes": "daily", "citations": "yes"}


def triage_comparison(adapter: float, few_shot: float) -> Comparison:
    return Comparison(
        dataset="support-triage",
        task="classification",
        metric="accuracy",
        examples=40,
        paths=[
            PathResult(path="zero_shot", quality=0.2, prompt_tokens=60),
            PathResult(path="few_shot", quality=few_shot, prompt_tokens=600),
            PathResult(path="adapter", quality=adapter, prompt_tokens=60),
            PathResult(path="router", quality=adapter, prompt_tokens=60),
        ],
    )


@pytest.mark.parametrize(
    ("answers", "approach"),
    [
        (TRIAGE, "adapter"),
        ({**TRIAGE, "labelled_examples": "under_100"}, "prompting"),
        ({**TRIAGE, "ml_capacity": "no"}, "prompting"),
        (
            {**TRIAGE, "requests_per_day": "under_1000", "latency": "relaxed", "labelled_examples": "100_to_1000"},
            "prompting",
        ),
        (PRODUCT_QA, "rag"),
        ({**PRODUCT_QA, "task": "format"}, "adapter_rag"),
        ({**TRIAGE, "task": "general"}, "prompting"),
    ],
)
def test_answers_lead_to_the_approach_the_rules_give(answers: dict[str, str], approach: str) -> None:
    assert recommend(parse_answers(answers), None)["approach"] == approach


def test_every_reason_names_its_question_and_the_blocker_is_among_them() -> None:
    advice = recommend(parse_answers({**TRIAGE, "labelled_examples": "under_100"}), None)
    assert advice["approach"] == "prompting"
    blockers = [r for r in advice["reasons"] if r["effect"] == "against"]
    assert [(r["question"], r["answer"], r["approach"]) for r in blockers] == [
        ("labelled_examples", "under_100", "adapter")
    ]
    qa = recommend(parse_answers(PRODUCT_QA), None)
    assert {r["question"] for r in qa["reasons"] if r["approach"] == "rag"} == {
        "task",
        "information_changes",
        "citations",
    }


@pytest.mark.parametrize(
    ("answers", "question"),
    [
        ({k: v for k, v in TRIAGE.items() if k != "latency"}, "latency"),
        ({**TRIAGE, "citations": "maybe"}, "citations"),
        ({**TRIAGE, "budget": "small"}, "budget"),
        ({**TRIAGE, "task": 3}, "task"),
    ],
)
def test_a_malformed_answer_names_its_question(answers: dict[str, object], question: str) -> None:
    with pytest.raises(AnswerError) as error:
        parse_answers(answers)
    assert error.value.question == question and question in str(error.value)


def test_measured_figures_confirm_or_overrule_the_questions() -> None:
    confirmed = recommend(parse_answers(TRIAGE), best_measured(triage_comparison(adapter=0.9, few_shot=0.3)))
    assert confirmed["approach"] == "adapter" and confirmed["measured"]["verdict"] == "confirmed"
    assert "+60 points over few-shot" in confirmed["measured"]["reason"]
    assert "10% of its prompt tokens" in confirmed["measured"]["reason"]
    overruled = recommend(parse_answers(TRIAGE), best_measured(triage_comparison(adapter=0.3, few_shot=0.6)))
    assert overruled["approach"] == "prompting" and overruled["questionnaire_approach"] == "adapter"
    assert overruled["measured"]["verdict"] == "overruled" and overruled["measured"]["best_path"] == "few_shot"


def test_an_embedding_classifier_that_beats_the_adapter_is_the_tutor_recommended() -> None:
    comparison = triage_comparison(adapter=0.825, few_shot=0.425)
    comparison.paths.append(PathResult(path="embedding_classifier", quality=0.85, prompt_tokens=0))
    advice = recommend(parse_answers(TRIAGE), best_measured(comparison))
    assert advice["approach"] == "embedding_classifier" and advice["measured"]["verdict"] == "overruled"
    assert "--kind embedding-classifier" in advice["next_step"]
    assert "embedding-classifier: 0.850 accuracy, +2.5 points over adapter on 40" in advice["measured"]["reason"]


def test_within_two_points_the_shorter_prompt_wins() -> None:
    measured = best_measured(triage_comparison(adapter=0.59, few_shot=0.6))
    assert measured is not None and measured.path == "adapter"


def test_the_api_serves_the_questionnaire_and_advice(client: TestClient[Litestar], tmp_path: Path) -> None:
    questions = client.get("/v1/advisor", headers=USER).json()["questions"]
    assert [q["id"] for q in questions] == [q.id for q in QUESTIONS]
    assert all(q["why"] and len(q["answers"]) >= 2 for q in questions)
    response = client.post("/v1/advisor", json={"answers": TRIAGE}, headers=USER)
    assert response.status_code == 200 and response.json()["approach"] == "adapter"
    folder = tmp_path / "comparisons" / "support-triage"
    folder.mkdir(parents=True)
    (folder / "comparison.json").write_bytes(msgspec.json.encode(triage_comparison(adapter=0.3, few_shot=0.6)))
    measured = client.post("/v1/advisor", json={"answers": TRIAGE, "dataset": "support-triage"}, headers=USER).json()
    assert measured["approach"] == "prompting" and measured["measured"]["verdict"] == "overruled"
    absent = client.post("/v1/advisor", json={"answers": TRIAGE, "dataset": "banking77"}, headers=USER).json()
    assert absent["measured"] is None and "banking77" in absent["measured_note"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"answers": {**TRIAGE, "latency": "soon"}}, "answers.latency"),
        ({"answers": {**TRIAGE, "colour": "blue"}}, "answers.colour"),
        ({"answers": TRIAGE, "dataset": "../etc"}, "dataset"),
    ],
)
def test_the_api_names_the_question_a_bad_answer_belongs_to(client: TestClient[Litestar], body, param: str) -> None:
    response = client.post("/v1/advisor", json=body, headers=USER)
    assert response.status_code == 400 and response.json()["error"]["param"] == param


def test_the_advisor_needs_a_key(client: TestClient[Litestar]) -> None:
    assert client.get("/v1/advisor").status_code == 401


def test_the_cli_takes_flags_and_reads_a_comparison(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "comparison.json").write_bytes(msgspec.json.encode(triage_comparison(adapter=0.9, few_shot=0.3)))
    flags = [f"--{key.replace('_', '-')}={value}" for key, value in TRIAGE.items()]
    advise.main([*flags, "--comparison", str(tmp_path), "--json"])
    advice = json.loads(capsys.readouterr().out)
    assert advice["approach"] == "adapter" and advice["measured"]["verdict"] == "confirmed"
    advise.main(flags)
    assert capsys.readouterr().out.startswith("Recommended: Fine-tuned LoRA adapter")


def test_the_cli_asks_again_until_the_answer_is_allowed(capsys: pytest.CaptureFixture[str]) -> None:
    replies = iter(["7", "maybe", "2"])
    assert advise.ask(QUESTIONS[0], lambda _: next(replies)) == QUESTIONS[0].choices[1].value
    assert capsys.readouterr().out.count("answer 1-4") == 2
