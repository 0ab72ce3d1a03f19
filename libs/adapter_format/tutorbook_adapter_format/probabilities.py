"""Scores read as probabilities over a label set: the one softmax every tutor's answer goes through (LoRA
classifiers, embedding classifiers, the claim judge's Yes/No, and training's evaluation)."""

import math
from collections.abc import Hashable
from typing import TypeVar

Key = TypeVar("Key", bound=Hashable)


def softmax(scores: dict[Key, float], temperature: float = 1.0) -> dict[Key, float]:
    """Log-probabilities (or logits: any common offset cancels) normalised over their keys."""
    top = max(scores.values())
    weights = {label: math.exp((score - top) / temperature) for label, score in scores.items()}
    total = sum(weights.values())
    return {label: weight / total for label, weight in weights.items()}
