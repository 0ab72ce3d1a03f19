"""The embedding classifier: a kind of tutor that needs no generator.

A multinomial logistic regression on the retriever's own sentence embeddings, trained by
``tutorbook-train-adapter --kind embedding-classifier`` in seconds, uploaded, versioned and routed like a
LoRA adapter, and served by the gateway itself: the retriever embeds the message (a few milliseconds),
the gateway applies the weights. Its file, ``classifier.json``, is shared by training and serving::

    {"embedder": "all-MiniLM-L6-v2", "dimension": 384, "labels": [...],
     "weights": [[...], ...],   # one row of ``dimension`` numbers per label
     "bias": [...]}             # one number per label

Its math (logits, probabilities) is :mod:`tutorbook_adapter_format.classification`.
"""

import math

import msgspec

from tutorbook_adapter_format.checked_json import decode_checked

CLASSIFIER_FILE = "classifier.json"
MAX_DIMENSION = 4096
MAX_WEIGHT = 1e6  # far above what a regularised regression learns; refuses garbage


class LinearClassifier(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    embedder: str
    dimension: int
    labels: list[str]
    weights: list[list[float]]
    bias: list[float]


class ClassifierError(ValueError):
    """The file breaks its format; the message says where."""


def classifier_problems(classifier: LinearClassifier, labels: list[str]) -> list[str]:
    """What is wrong with ``classifier`` for a card whose labels are ``labels`` (empty: it is fine)."""
    problems = []
    if not 1 <= classifier.dimension <= MAX_DIMENSION:
        problems.append(f"dimension must be 1-{MAX_DIMENSION}")
    if classifier.labels != labels:
        problems.append("labels must be the card's labels, in the card's order")
    if len(classifier.weights) != len(classifier.labels) or len(classifier.bias) != len(classifier.labels):
        problems.append("weights and bias need one entry per label")
    if any(len(row) != classifier.dimension for row in classifier.weights):
        problems.append(f"every row of weights needs {classifier.dimension} numbers (the dimension)")
    numbers = [value for row in classifier.weights for value in row] + classifier.bias
    if any(not math.isfinite(value) or abs(value) > MAX_WEIGHT for value in numbers):
        problems.append(f"weights and bias must be finite numbers within ±{MAX_WEIGHT:g}")
    return problems


def parse_classifier(raw: bytes, labels: list[str]) -> LinearClassifier:
    """The classifier in ``raw``, for a card whose labels are ``labels``."""

    def problems(classifier: LinearClassifier) -> list[str]:
        return classifier_problems(classifier, labels)

    return decode_checked(raw, LinearClassifier, CLASSIFIER_FILE, problems, ClassifierError)


def encode_classifier(classifier: LinearClassifier) -> bytes:
    return msgspec.json.encode(classifier) + b"\n"
