"""From the questionnaire's answers to an approach, with the reasons that decided it.

Start with prompting, add retrieval when answers need facts that change or must be cited, and fine-tune
only when the task is narrow and repeated, there are enough examples to learn it, and it pays off (volume
or latency) for a team that can retrain it. Every rule that fired becomes a reason naming its question.
"""

from dataclasses import dataclass
from typing import Any, Literal

Approach = Literal["prompting", "rag", "adapter", "adapter_rag"]
Effect = Literal["for", "against"]

TITLES: dict[str, str] = {
    "prompting": "Prompting (zero- or few-shot)",
    "rag": "Retrieval-augmented generation (RAG)",
    "adapter": "Fine-tuned LoRA adapter",
    "adapter_rag": "Fine-tuned adapter plus RAG",
    "embedding_classifier": "Embedding classifier (a tutor without the generator)",  # only from measurements
}
NEXT_STEPS: dict[str, str] = {
    "prompting": "Ask with model 'base' (or 'auto'); add a few solved examples to the prompt if answers drift.",
    "rag": "Ingest your documents (POST /v1/documents) and ask with model 'auto': answers cite their passages.",
    "adapter": "Train with tutorbook-train-adapter, measure with tutorbook-compare, upload (POST /v1/adapters).",
    "adapter_rag": "Ingest your documents, train and upload an adapter; 'auto' routes to both when both fit.",
    "embedding_classifier": "Train with tutorbook-train-adapter --kind embedding-classifier (seconds) and upload it "
    "(POST /v1/adapters): the gateway answers with its label, no generation.",
}
ENOUGH_EXAMPLES = ("100_to_1000", "over_1000")


@dataclass(frozen=True)
class Reason:
    question: str
    answer: str
    approach: str  # what the reason is about: "rag" (retrieval) or "adapter" (fine-tuning)
    effect: Effect
    text: str

    def as_dict(self) -> dict[str, str]:
        return {
            "question": self.question,
            "answer": self.answer,
            "approach": self.approach,
            "effect": self.effect,
            "text": self.text,
        }


@dataclass(frozen=True)
class Advice:
    approach: Approach
    reasons: list[Reason]

    def as_dict(self) -> dict[str, Any]:
        return {
            "approach": self.approach,
            "title": TITLES[self.approach],
            "next_step": NEXT_STEPS[self.approach],
            "reasons": [reason.as_dict() for reason in self.reasons],
        }


def retrieval_reasons(answers: dict[str, str]) -> list[Reason]:
    reasons = []
    if answers["task"] == "product_qa":
        reasons.append(Reason("task", "product_qa", "rag", "for", "product facts come from your documents"))
    if answers["information_changes"] in ("daily", "monthly"):
        text = "the information changes; retrieval reads it fresh, trained weights go stale"
        reasons.append(Reason("information_changes", answers["information_changes"], "rag", "for", text))
    if answers["citations"] == "yes":
        reasons.append(Reason("citations", "yes", "rag", "for", "only retrieved passages can be cited"))
    return reasons


def fine_tuning_reasons(answers: dict[str, str]) -> list[Reason]:
    """Reasons for an adapter, then against it; an adapter needs all ``for`` and no ``against``."""
    task, examples = answers["task"], answers["labelled_examples"]
    reasons = []
    if task in ("classification", "format"):
        reasons.append(Reason("task", task, "adapter", "for", "a narrow task in a fixed format is what tuning learns"))
    else:
        reasons.append(Reason("task", task, "adapter", "against", "an open task gains little from tuning"))
    if examples in ENOUGH_EXAMPLES:
        text = "enough examples to train on, more than a prompt can hold"
        reasons.append(Reason("labelled_examples", examples, "adapter", "for", text))
    else:
        text = "too few examples to train on: prompt with a few of them, and collect more"
        reasons.append(Reason("labelled_examples", examples, "adapter", "against", text))
    volume, latency = answers["requests_per_day"], answers["latency"]
    if volume != "under_1000":
        text = "the same task thousands of times a day: a short prompt per request pays for training"
        reasons.append(Reason("requests_per_day", volume, "adapter", "for", text))
    if latency != "relaxed":
        text = "an adapter needs no examples in its prompt, so answers come back sooner"
        reasons.append(Reason("latency", latency, "adapter", "for", text))
    if volume == "under_1000" and latency == "relaxed" and examples != "over_1000":
        text = "low volume, relaxed latency: training would not pay for itself"
        reasons.append(Reason("requests_per_day", volume, "adapter", "against", text))
    if answers["ml_capacity"] == "no":
        text = "an adapter must be retrained when the task changes; nobody can do that yet"
        reasons.append(Reason("ml_capacity", "no", "adapter", "against", text))
    return reasons


def advise(answers: dict[str, str]) -> Advice:
    """``answers`` as returned by :func:`~tutorbook_gateway.advisor.questionnaire.parse_answers`."""
    retrieval = retrieval_reasons(answers)
    tuning = fine_tuning_reasons(answers)
    tune = not any(reason.effect == "against" for reason in tuning)
    if tune and retrieval:
        approach: Approach = "adapter_rag"
    elif tune:
        approach = "adapter"
    elif retrieval:
        approach = "rag"
    else:
        approach = "prompting"
    deciding = tuning if tune else [reason for reason in tuning if reason.effect == "against"]
    return Advice(approach, retrieval + deciding)
