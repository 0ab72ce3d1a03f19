"""The embedding classifier's file (shared by training and serving) and the confidence it gives."""

import json
import math
from collections.abc import Sequence

import pytest

from tutorbook_adapter_format.card import CardError, parse_card
from tutorbook_adapter_format.classification import classification_from_logprobs, logits, softmax
from tutorbook_adapter_format.embedding_classifier import ClassifierError, LinearClassifier, parse_classifier
from tutorbook_training.embedding_classifier import (
    accuracy_and_calibration,
    embedded_as_served,
    fit_temperature,
    stratified_folds,
)

LABELS = ["billing", "returns"]


def classifier_bytes(**changes: object) -> bytes:
    body = {"embedder": "e", "dimension": 2, "labels": LABELS, "weights": [[1.0, 0.0], [0.0, 1.0]], "bias": [0.5, 0.0]}
    return json.dumps({**body, **changes}).encode()


def test_the_confidence_is_the_softmax_of_the_logits_over_the_labels() -> None:
    classifier = parse_classifier(classifier_bytes(), LABELS)
    scores = logits(classifier, [0.2, 0.9])
    assert scores == pytest.approx({"billing": 0.7, "returns": 0.9})
    result = classification_from_logprobs(scores)
    assert result.label == "returns"
    assert result.confidence == pytest.approx(math.exp(0.9) / (math.exp(0.7) + math.exp(0.9)))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"weights": [[1.0, 0.0]]}, "one entry per label"),
        ({"weights": [[1.0], [0.0]]}, "needs 2 numbers"),
        ({"labels": ["returns", "billing"]}, "the card's labels, in the card's order"),
        ({"dimension": 0}, "dimension must be"),
        ({"bias": [1e7, 0.0]}, "finite numbers within"),
        ({"bias": [float("inf"), 0.0]}, "out of range"),
        ({"weights": "no"}, "Expected `array`"),
        ({"extra": 1}, "unknown field"),
    ],
)
def test_a_broken_file_says_what_is_wrong(changes: dict[str, object], words: str) -> None:
    with pytest.raises(ClassifierError, match=r"classifier\.json") as caught:
        parse_classifier(classifier_bytes(**changes).replace(b"Infinity", b"1e999"), LABELS)
    assert words in str(caught.value)


def test_a_vector_of_another_size_is_refused() -> None:
    with pytest.raises(ValueError, match="3 numbers"):
        logits(
            LinearClassifier(embedder="e", dimension=2, labels=LABELS, weights=[[1, 0], [0, 1]], bias=[0, 0]), [1, 2, 3]
        )


def test_the_card_of_an_embedding_classifier_is_a_classifier() -> None:
    card = {"name": "t", "base_model": "e", "task_type": "generative", "kind": "embedding_classifier"}
    with pytest.raises(CardError, match="task_type is 'classifier'"):
        parse_card(json.dumps(card).encode())
    assert parse_card(json.dumps({**card, "task_type": "classifier", "labels": LABELS}).encode()).kind == (
        "embedding_classifier"
    )


def test_every_fold_leaves_every_label_to_fit_on() -> None:
    labels = ["a"] * 10 + ["b"] * 7 + ["c"]
    folds = stratified_folds(labels, 5, seed=0)
    assert len(folds) == 5 and sorted(i for fold in folds for i in fold) == list(range(17))  # "c" in none
    for fold in folds:
        assert {labels[i] for i in range(18) if i not in fold} == {"a", "b", "c"}
        assert 3 <= len(fold) <= 4


def test_the_temperature_sharpens_a_too_flat_softmax_and_keeps_the_ranking() -> None:
    flat = [{"a": 1.0, "b": 0.0}] * 9 + [{"a": 0.0, "b": 1.0}] * 9  # always right, but only 73% sure
    temperature = fit_temperature(flat, ["a"] * 9 + ["b"] * 9)
    assert temperature < 0.1
    assert softmax(flat[0], temperature)["a"] > 0.99
    mixed = [{"a": 1.0, "b": 0.0}] * 6 + [{"a": 1.0, "b": 0.0}] * 3  # right two times in three
    assert softmax(mixed[0], fit_temperature(mixed, ["a"] * 6 + ["b"] * 3))["a"] == pytest.approx(2 / 3, abs=0.03)


class BatchScaledEmbedder:
    """Like int8's per-batch quantisation: a text's vector depends on the texts embedded with it."""

    dimension = 2

    def __init__(self) -> None:
        self.batches: list[int] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.batches.append(len(texts))
        longest = max(len(text) for text in texts)
        return [[len(text) / longest, 1.0 - len(text) / longest] for text in texts]


def test_the_classifier_is_trained_and_scored_on_the_vectors_the_gateway_serves() -> None:
    embedder = BatchScaledEmbedder()
    texts = ["refund", "a much longer message about an invoice", "ok"]
    vectors = embedded_as_served(embedder, texts)
    assert embedder.batches == [1, 1, 1]  # one message per request, as the retriever embeds it when serving
    assert vectors == [embedder.embed([text])[0] for text in texts]
    assert vectors != embedder.embed(texts)  # batched, the same texts get other vectors


def test_accuracy_and_calibration_count_each_held_out_answer() -> None:
    classifier = parse_classifier(classifier_bytes(), LABELS)
    accuracy, calibration_error = accuracy_and_calibration(classifier, [[1.0, 0.0], [0.0, 1.0]], ["billing", "billing"])
    assert accuracy == 0.5
    right_and_sure = math.exp(1.5) / (math.exp(1.5) + 1)  # billing, right
    wrong_and_sure = math.exp(1.0) / (math.exp(1.0) + math.exp(0.5))  # returns, wrong
    assert calibration_error == pytest.approx(((1 - right_and_sure) + wrong_and_sure) / 2)
