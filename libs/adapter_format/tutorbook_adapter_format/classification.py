"""What a classifier tutor is asked, and what it answers. A LoRA classifier is trained and served with
one prompt, :func:`classifier_messages` (its labels, with their codes when it answers by code). Its scores
over the labels are read as probabilities, then the most probable label, its confidence and the
runners-up. One owner for the prompt, the softmax and the shape of a classification, shared by serving
(LoRA classifiers scored by vLLM, embedding classifiers applied by the gateway, the claim judge's Yes/No)
and by training and its evaluation.

Normalised over the whole label set, the probabilities are what people see: the answer is the most probable
label, and no runner-up can outrank it.
"""

import math
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from tutorbook_adapter_format.embedding_classifier import LinearClassifier

Key = TypeVar("Key", bound=Hashable)


def classifier_system_prompt(labels: list[str], codes: list[str] | None = None) -> str:
    """The labels, or a line per label with its code after it: ``billing: C`` (a small model learns to
    answer with the code after the label it means several times faster than with ``C = billing``, where
    the code comes first: docs/adapters.md)."""
    if codes:
        listed = "\n".join(f"{label}: {code}" for code, label in zip(codes, labels, strict=True))
        return f"Classify the message into one of these labels, and answer with its code only.\n{listed}"
    return "Classify the message. Answer with exactly one label from this list: " + ", ".join(labels) + "."


def classifier_messages(labels: list[str], text: str, codes: list[str] | None = None) -> list[dict[str, str]]:
    """The prompt a classifier adapter is trained on and served with (with its label codes, when it has any)."""
    system = classifier_system_prompt(labels, codes)
    return [{"role": "system", "content": system}, {"role": "user", "content": text}]


RUNNERS_UP = 3
MIN_RUNNER_UP = 0.01


@dataclass(frozen=True)
class LabelScore:
    label: str
    probability: float


@dataclass(frozen=True)
class Classification:
    label: str
    confidence: float
    runners_up: tuple[LabelScore, ...]

    def text(self) -> str:
        """``Ophthalmologist (0.96); related: Allergist (0.03)``"""
        head = f"{self.label} ({self.confidence:.2f})"
        if not self.runners_up:
            return head
        return head + "; related: " + ", ".join(f"{s.label} ({s.probability:.2f})" for s in self.runners_up)

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "runners_up": [{"label": s.label, "probability": round(s.probability, 4)} for s in self.runners_up],
        }


def classification_from_logprobs(logprobs: dict[str, float]) -> Classification:
    """``logprobs``: each label's log-probability as the whole answer (any common offset cancels)."""
    ranked = sorted((LabelScore(label, chance) for label, chance in softmax(logprobs).items()), key=probability)
    best, *rest = ranked
    runners_up = tuple(score for score in rest[:RUNNERS_UP] if score.probability >= MIN_RUNNER_UP)
    return Classification(best.label, best.probability, runners_up)


def probability(score: LabelScore) -> float:
    return -score.probability  # most probable first


def softmax(scores: dict[Key, float], temperature: float = 1.0) -> dict[Key, float]:
    """Log-probabilities (or logits: any common offset cancels) normalised over their keys."""
    top = max(scores.values())
    weights = {label: math.exp((score - top) / temperature) for label, score in scores.items()}
    total = sum(weights.values())
    return {label: weight / total for label, weight in weights.items()}


def logits(classifier: LinearClassifier, vector: list[float]) -> dict[str, float]:
    """Each label's score for an embedded message: log-probabilities up to a shared constant."""
    if len(vector) != classifier.dimension:
        raise ValueError(f"the embedding has {len(vector)} numbers, the classifier {classifier.dimension}")
    return {
        label: bias + math.fsum(weight * value for weight, value in zip(row, vector, strict=True))
        for label, row, bias in zip(classifier.labels, classifier.weights, classifier.bias, strict=True)
    }


def probabilities(classifier: LinearClassifier, vector: list[float]) -> dict[str, float]:
    """Each label's probability for an embedded message: the softmax of the logits over the labels."""
    return softmax(logits(classifier, vector))
