"""The approach advisor's questions: what each asks, the answers it allows, and why it matters.

One owner for the questionnaire: the gateway serves it (``GET /v1/advisor``), ``tutorbook-advise`` asks it
on a terminal, and :mod:`tutorbook_gateway.advisor.decision` reads the answers.
"""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    choices: tuple[Choice, ...]
    why: str

    def values(self) -> list[str]:
        return [choice.value for choice in self.choices]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.text,
            "answers": [{"value": choice.value, "label": choice.label} for choice in self.choices],
            "why": self.why,
        }


QUESTIONS: tuple[Question, ...] = (
    Question(
        "task",
        "What should the model do with each request?",
        (
            Choice("product_qa", "Answer questions about our products from our documents"),
            Choice("classification", "Pick one label from a fixed set (triage, intent, category)"),
            Choice("format", "Write in one fixed style or format (house style, structured output)"),
            Choice("general", "General help: summarise, rephrase, chat"),
        ),
        "Facts belong in retrieved passages; a narrow, repeated task is what fine-tuning bakes into weights.",
    ),
    Question(
        "information_changes",
        "How often does the information behind the answers change?",
        (
            Choice("daily", "Daily or weekly"),
            Choice("monthly", "Every month or quarter"),
            Choice("rarely", "Rarely"),
            Choice("not_applicable", "The task does not depend on product facts"),
        ),
        "Changing information must come from data read at request time (RAG); weights go stale until retrained.",
    ),
    Question(
        "labelled_examples",
        "How many good, checked examples of the task (input and the right output) do you have?",
        (
            Choice("none", "None"),
            Choice("under_100", "Fewer than 100"),
            Choice("100_to_1000", "100 to 1,000"),
            Choice("over_1000", "More than 1,000"),
        ),
        "Few-shot prompting is limited to the few examples that fit in a prompt; fine-tuning needs hundreds.",
    ),
    Question(
        "requests_per_day",
        "How many requests of this task a day?",
        (
            Choice("under_1000", "Fewer than 1,000"),
            Choice("1000_to_100000", "1,000 to 100,000"),
            Choice("over_100000", "More than 100,000"),
        ),
        "The same task thousands of times repays training: an adapter's prompt is short, so each request is cheaper.",
    ),
    Question(
        "latency",
        "How fast must an answer come back?",
        (
            Choice("relaxed", "Seconds are fine"),
            Choice("interactive", "About a second"),
            Choice("strict", "As fast as possible"),
        ),
        "Long prompts (examples, passages) cost prefill time on every request; an adapter carries none.",
    ),
    Question(
        "citations",
        "Must answers show the sources they came from?",
        (Choice("yes", "Yes"), Choice("no", "No")),
        "Only retrieval can cite a passage; weights cannot say where a fact came from.",
    ),
    Question(
        "ml_capacity",
        "Can your team train, evaluate and retrain a model when the task changes?",
        (Choice("yes", "Yes"), Choice("no", "Not yet")),
        "An adapter is a model to maintain: retrain it when labels or style change. Prompting and RAG need none.",
    ),
)

QUESTIONS_BY_ID = {question.id: question for question in QUESTIONS}


class AnswerError(ValueError):
    """An answer is missing, unknown or not allowed; ``question`` names which."""

    def __init__(self, question: str, message: str) -> None:
        super().__init__(message)
        self.question = question


def parse_answers(raw: object) -> dict[str, str]:
    """Check every answer against its question; the error names the first question at fault."""
    if not isinstance(raw, dict):
        raise AnswerError("answers", "answers must be an object of question id to answer")
    for key in raw:
        if key not in QUESTIONS_BY_ID:
            raise AnswerError(str(key), f"{key!r} is not a question; the questions are {', '.join(QUESTIONS_BY_ID)}")
    answers = {}
    for question in QUESTIONS:
        if question.id not in raw:
            raise AnswerError(question.id, f"{question.id}: missing; one of {', '.join(question.values())}")
        value = raw[question.id]
        if value not in question.values():
            allowed = ", ".join(question.values())
            raise AnswerError(question.id, f"{question.id}: {value!r} is not an answer; one of {allowed}")
        answers[question.id] = str(value)
    return answers
