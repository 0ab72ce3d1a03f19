"""``tutorbook-train-adapter --kind embedding-classifier``: a tutor that needs no generator.

A multinomial logistic regression on the retriever's own sentence embeddings (the same model, runtime and
precision the retriever serves with, from the same settings), trained in seconds on CPU. Its folder holds
``classifier.json`` and the card; upload it like a LoRA adapter and the gateway serves it itself
(``tutorbook_common.embedding_classifier``). The validation split scores it before it is written.
"""

import time
from collections.abc import Sequence
from pathlib import Path

from tutorbook_common.adapter_card import CARD_FILE, AdapterCard, parse_card
from tutorbook_common.embedding_classifier import (
    CLASSIFIER_FILE,
    LinearClassifier,
    encode_classifier,
    parse_classifier,
    probabilities,
)
from tutorbook_training.data import Dataset, split, write_card
from tutorbook_training.label_scoring import expected_calibration_error

REGULARISATION = 10.0  # scikit-learn's C: the inverse of the L2 penalty (measured in docs/adapters.md)


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
    best = max(chances, key=lambda label: chances[label])
    return best, chances[best]


def score_on(folder: Path, heldout: Dataset) -> tuple[float, float]:
    """Accuracy and expected calibration error of the embedding classifier in ``folder`` on ``heldout``,
    embedded as the retriever embeds (what ``tutorbook-eval-adapter`` records for this kind)."""
    from tutorbook_retriever.settings import RetrieverSettings
    from tutorbook_retriever.wiring import open_embedder

    card = parse_card((folder / CARD_FILE).read_bytes())
    classifier = parse_classifier((folder / CLASSIFIER_FILE).read_bytes(), card.labels)
    vectors = open_embedder(RetrieverSettings()).embed([example.text or "" for example in heldout.examples])
    said = [predict(classifier, vector) for vector in vectors]
    correct = [label == example.label for (label, _), example in zip(said, heldout.examples, strict=True)]
    return sum(correct) / len(correct), expected_calibration_error([chance for _, chance in said], correct)


def train_embedding_classifier(
    dataset: Dataset, validation_split: float, seed: int
) -> tuple[LinearClassifier, dict[str, float]]:
    """The classifier, trained on the retriever's embedder, and its figures (validation accuracy)."""
    from tutorbook_retriever.settings import RetrieverSettings
    from tutorbook_retriever.wiring import open_embedder

    if dataset.task_type != "classifier":
        raise ValueError("an embedding classifier learns labels: the data needs {'text', 'label'} rows")
    settings = RetrieverSettings()
    embedder = open_embedder(settings)
    started = time.perf_counter()
    train, validation = split(dataset.examples, validation_split, seed)
    texts = [example.text or "" for example in train]
    labels = [example.label or "" for example in train]
    classifier = fit_classifier(embedder.embed(texts), labels, settings.embedder_name(), dataset.labels)
    figures = {"seconds": time.perf_counter() - started, "train_examples": float(len(train))}
    if validation:
        vectors = embedder.embed([example.text or "" for example in validation])
        said = [predict(classifier, vector)[0] for vector in vectors]
        right = sum(label == example.label for label, example in zip(said, validation, strict=True))
        figures["validation_accuracy"] = right / len(validation)
    return classifier, figures


def write_embedding_classifier(
    dataset: Dataset, name: str, classifier: LinearClassifier, output: Path, figures: dict[str, float]
) -> AdapterCard:
    output.mkdir(parents=True, exist_ok=True)
    (output / CLASSIFIER_FILE).write_bytes(encode_classifier(classifier))
    return write_card(dataset, name, classifier.embedder, output, figures, kind="embedding_classifier")
