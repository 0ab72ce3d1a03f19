"""A classifier adapter's answer, read from vLLM's token log-probabilities.

The adapter was trained to answer with one of its labels. The generated tokens name the top label; its
confidence is the probability of those tokens. At every position where another label could still have
begun, the top alternatives vLLM reports give that label's probability (the probability of its path up
to where it leaves the answer; an upper bound, as the rest of its tokens are not scored).
"""

import math
from dataclasses import dataclass
from typing import Any

from tutorbook_common.adapter_card import closest_label

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
        """``Ophthalmologist (0.96); related: Allergist (0.23)``"""
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


def normalise(text: str) -> str:
    return text.strip().lower()


def classify(token_logprobs: list[dict[str, Any]], labels: list[str]) -> Classification:
    """``token_logprobs`` is ``choices[0].logprobs.content`` of a chat completion with ``top_logprobs``."""
    answer = "".join(str(item.get("token", "")) for item in token_logprobs)
    label = closest_label(answer, labels)
    target = normalise(label)
    best: dict[str, float] = {}
    prefix = ""
    path_logprob = 0.0
    confidence_logprob = 0.0
    for item in token_logprobs:
        if len(normalise(prefix)) >= len(target):
            break
        token = str(item.get("token", ""))
        for alternative in item.get("top_logprobs") or []:
            text = normalise(prefix + str(alternative.get("token", "")))
            if not text or alternative.get("token") == token:
                continue  # the chosen token: labels sharing it are scored where they part
            probability = math.exp(path_logprob + float(alternative.get("logprob", -math.inf)))
            for other in labels:
                candidate = normalise(other)
                if other != label and (candidate.startswith(text) or text.startswith(candidate)):
                    best[other] = max(best.get(other, 0.0), probability)
        path_logprob += float(item.get("logprob", -math.inf))
        prefix += token
        confidence_logprob = path_logprob
        if not target.startswith(normalise(prefix)):
            break
    runners_up = sorted(
        (LabelScore(name, p) for name, p in best.items() if p >= MIN_RUNNER_UP),
        key=lambda score: score.probability,
        reverse=True,
    )
    return Classification(
        label, math.exp(confidence_logprob) if token_logprobs else 0.0, tuple(runners_up[:RUNNERS_UP])
    )
