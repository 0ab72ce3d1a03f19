"""The comparison's figures: classification quality and calibration, answer correctness and retrieval for
question answering, latency and tokens for every path."""

import re
import statistics
from collections.abc import Sequence

from tutorbook_training.label_scoring import expected_calibration_error

YES_NO = ("yes", "no")


def accuracy(predicted: Sequence[str], gold: Sequence[str]) -> float:
    return sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold) if gold else 0.0


def macro_f1(predicted: Sequence[str], gold: Sequence[str], labels: Sequence[str]) -> float:
    """The unweighted mean of every label's F1 (a label never predicted nor present scores 0)."""
    scores = []
    for label in labels:
        hits = sum(p == label and g == label for p, g in zip(predicted, gold, strict=True))
        said, wanted = sum(p == label for p in predicted), sum(g == label for g in gold)
        scores.append(2 * hits / (said + wanted) if said + wanted else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def calibration_error(confidences: Sequence[float | None], correct: Sequence[bool]) -> float | None:
    """Expected calibration error over the answers that reported a confidence (None: none did)."""
    pairs = [(c, ok) for c, ok in zip(confidences, correct, strict=True) if c is not None]
    if not pairs:
        return None
    return expected_calibration_error([c for c, _ in pairs], [ok for _, ok in pairs])


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:[.,][0-9]+)*", text.lower())


def token_f1(answer: str, reference: str) -> float:
    got, want = words(answer), words(reference)
    common = sum(min(got.count(word), want.count(word)) for word in set(got))
    if not common:
        return 0.0
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall)


def contains_reference(answer: str, reference: str) -> bool:
    """The reference's words appear, in order and together, in the answer."""
    want = " ".join(words(reference))
    return bool(want) and want in " ".join(words(answer))


def polarity(text: str) -> str | None:
    """``yes`` or ``no`` when the text opens with one (a yes/no answer), else None."""
    first = words(text)[:1]
    return first[0] if first and first[0] in YES_NO else None


def yes_no_correct(answer: str, reference: str) -> bool | None:
    """Whether a yes/no reference is answered with the same polarity (None: the reference is not yes/no)."""
    wanted = polarity(reference)
    return None if wanted is None else polarity(answer) == wanted


def percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
