"""``tutorbook-train-adapter --kind embedding-classifier``: a tutor that needs no generator.

A multinomial logistic regression on the retriever's own sentence embeddings (the same model, runtime and
precision the retriever serves with, from the same settings), trained in seconds on CPU. Its folder holds
``classifier.json`` and the card; upload it like a LoRA adapter and the gateway serves it itself
(``tutorbook_adapter_format.embedding_classifier``). Cross-validation scores it and fits its temperature before
it is written.
"""

import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from tutorbook_adapter_format.card import CARD_FILE, AdapterCard, parse_card
from tutorbook_adapter_format.classification import logits, probabilities, softmax
from tutorbook_adapter_format.embedding_classifier import (
    CLASSIFIER_FILE,
    LinearClassifier,
    encode_classifier,
    parse_classifier,
)
from tutorbook_training.data import Dataset, write_card
from tutorbook_training.label_scoring import expected_calibration_error

if TYPE_CHECKING:
    from tutorbook_retriever.clients.embedder import Embedder

REGULARISATION = 10.0  # scikit-learn's C: the inverse of the L2 penalty (measured in docs/adapters.md)
FOLDS = 5
TEMPERATURES = [0.02 * 1.1**step for step in range(80)]  # 0.02 to about 35, 10% apart


def fit_classifier(
    vectors: list[list[float]], labels: Sequence[str], embedder: str, label_order: list[str]
) -> LinearClassifier:
    """Weights for ``label_order`` from embedded texts and their labels (every label must occur)."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    missing = sorted(set(label_order) - set(labels))
    if missing:
        raise ValueError(f"no training example for labels {missing}")
    model = LogisticRegression(max_iter=2000, C=REGULARISATION)
    model.fit(vectors, list(labels))
    row = {str(label): index for index, label in enumerate(model.classes_)}
    return LinearClassifier(
        embedder=embedder,
        dimension=len(vectors[0]),
        labels=list(label_order),
        weights=[[float(value) for value in model.coef_[row[label]]] for label in label_order],
        bias=[float(model.intercept_[row[label]]) for label in label_order],
    )


def predict(classifier: LinearClassifier, vector: list[float]) -> tuple[str, float]:
    """The most probable label and its probability."""
    chances = probabilities(classifier, vector)
    best = top_label(chances)
    return best, chances[best]


def embedded_as_served(embedder: "Embedder", texts: Sequence[str]) -> list[list[float]]:
    """Each text embedded on its own, as the retriever embeds the message of a request it serves. At int8
    the embedder quantises activations per batch, so a text embedded among others gets a slightly
    different vector: a classifier trained or scored on batched vectors is not the one the gateway serves
    (docs/adapters.md measured the difference)."""
    return [embedder.embed([text])[0] for text in texts]


def accuracy_and_calibration(
    classifier: LinearClassifier, vectors: list[list[float]], gold: Sequence[str]
) -> tuple[float, float]:
    """Accuracy and expected calibration error of ``classifier`` on embedded held-out texts."""
    said = [predict(classifier, vector) for vector in vectors]
    correct = [label == expected for (label, _), expected in zip(said, gold, strict=True)]
    return sum(correct) / len(correct), expected_calibration_error([chance for _, chance in said], correct)


def score_on(folder: Path, heldout: Dataset) -> tuple[float, float]:
    """Accuracy and expected calibration error of the embedding classifier in ``folder`` on ``heldout``,
    embedded as the retriever serves (what ``tutorbook-eval-adapter`` records for this kind)."""
    from tutorbook_retriever.settings import RetrieverSettings
    from tutorbook_retriever.wiring import open_embedder

    card = parse_card((folder / CARD_FILE).read_bytes())
    classifier = parse_classifier((folder / CLASSIFIER_FILE).read_bytes(), card.labels)
    texts = [example.text or "" for example in heldout.examples]
    vectors = embedded_as_served(open_embedder(RetrieverSettings()), texts)
    return accuracy_and_calibration(classifier, vectors, [example.label or "" for example in heldout.examples])


def stratified_folds(labels: Sequence[str], folds: int, seed: int) -> list[list[int]]:
    """Each label's texts dealt round the folds in a random order; a label with one text is in none (every
    fold's complement must hold every label)."""
    by_label: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    rng = random.Random(seed)
    dealt: list[list[int]] = [[] for _ in range(folds)]
    position = 0
    for label in sorted(by_label):
        indices = by_label[label]
        if len(indices) < 2:
            continue
        rng.shuffle(indices)
        for index in indices:
            dealt[position % folds].append(index)
            position += 1
    return [sorted(fold) for fold in dealt if fold]


def fit_temperature(scores: list[dict[str, float]], gold: Sequence[str]) -> float:
    """The temperature that makes the held-out texts' probabilities most likely (temperature scaling:
    a regularised regression's softmax is too flat; one number fixes its calibration, not its ranking)."""

    def negative_log_likelihood(temperature: float) -> float:
        return -sum(
            math.log(max(softmax(score, temperature)[label], 1e-12)) for score, label in zip(scores, gold, strict=True)
        )

    return min(TEMPERATURES, key=negative_log_likelihood)


def top_label(scores: dict[str, float]) -> str:
    return max(scores, key=lambda label: scores[label])


def fit_calibrated(
    vectors: list[list[float]], labels: Sequence[str], embedder: str, label_order: list[str], seed: int = 0
) -> tuple[LinearClassifier, dict[str, float]]:
    """Fit on every text. Cross-validation first (each fold scored by a fit on the others) measures the
    accuracy and fits the temperature, which is folded into the weights: the file and the serving code
    stay the same. Out-of-fold scores include mistakes, so the temperature does not run to zero the way it
    would on a small validation split the classifier gets entirely right."""
    scores: list[dict[str, float]] = []
    gold: list[str] = []
    for fold in stratified_folds(labels, FOLDS, seed):
        held = set(fold)
        rest = [i for i in range(len(labels)) if i not in held]
        part = fit_classifier([vectors[i] for i in rest], [labels[i] for i in rest], embedder, label_order)
        scores += [logits(part, vectors[i]) for i in fold]
        gold += [labels[i] for i in fold]
    classifier = fit_classifier(vectors, labels, embedder, label_order)
    figures = {"train_examples": float(len(labels))}
    if scores:
        temperature = fit_temperature(scores, gold)
        right = sum(top_label(score) == label for score, label in zip(scores, gold, strict=True))
        classifier = msgspec.structs.replace(
            classifier,
            weights=[[value / temperature for value in row] for row in classifier.weights],
            bias=[value / temperature for value in classifier.bias],
        )
        figures.update(cross_validated_accuracy=right / len(gold), temperature=temperature)
    return classifier, figures


def train_embedding_classifier(dataset: Dataset, seed: int) -> tuple[LinearClassifier, dict[str, float]]:
    """The classifier, trained on the retriever's embedder, and its figures (cross-validated accuracy)."""
    from tutorbook_retriever.settings import RetrieverSettings
    from tutorbook_retriever.wiring import open_embedder

    if dataset.task_type != "classifier":
        raise ValueError("an embedding classifier learns labels: the data needs {'text', 'label'} rows")
    settings = RetrieverSettings()
    embedder = open_embedder(settings)
    started = time.perf_counter()
    vectors = embedded_as_served(embedder, [example.text or "" for example in dataset.examples])
    labels = [example.label or "" for example in dataset.examples]
    classifier, figures = fit_calibrated(vectors, labels, settings.embedding.embedder_name(), dataset.labels, seed)
    return classifier, {"seconds": time.perf_counter() - started, **figures}


def write_embedding_classifier(
    dataset: Dataset, name: str, classifier: LinearClassifier, output: Path, figures: dict[str, float]
) -> AdapterCard:
    output.mkdir(parents=True, exist_ok=True)
    (output / CLASSIFIER_FILE).write_bytes(encode_classifier(classifier))
    return write_card(dataset, name, classifier.embedder, output, figures, kind="embedding_classifier")
