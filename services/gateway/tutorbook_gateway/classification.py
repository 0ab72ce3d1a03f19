"""A classifier adapter's answer: every label scored as the whole answer, normalised over the label set.

vLLM scores each label's full token sequence (the label and the end of the assistant's turn) after the
prompt the adapter was trained with, as prompt log-probabilities. Normalised over the labels, those are
the probabilities people see: the answer is the most probable label, and no runner-up can outrank it.
"""

from dataclasses import dataclass
from typing import Any

from tutorbook_adapter_format.probabilities import softmax

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


def continuation_logprob(prompt_logprobs: list[dict[str, Any] | None], continuation: list[int]) -> float:
    """The summed log-probability of the prompt's last tokens, ``continuation``, from vLLM's
    ``prompt_logprobs`` (one entry per prompt token, keyed by token id; the first is ``None``)."""
    scored = prompt_logprobs[len(prompt_logprobs) - len(continuation) :]
    total = 0.0
    for entry, token_id in zip(scored, continuation, strict=True):
        if entry is None or str(token_id) not in entry:
            raise ValueError(f"vLLM returned no log-probability for prompt token {token_id}")
        total += float(entry[str(token_id)]["logprob"])
    return total
