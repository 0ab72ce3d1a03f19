"""A classifier adapter's label, confidence and runners-up, from token log-probabilities."""

import math

import pytest

from tutorbook_common.adapter_card import closest_label
from tutorbook_gateway.classification import Classification, classify

LABELS = ["Ophthalmologist", "Allergist", "Orthopedist", "Dermatologist"]


def token(text: str, probability: float, alternatives: dict[str, float] | None = None) -> dict[str, object]:
    top = {text: probability, **(alternatives or {})}
    return {
        "token": text,
        "logprob": math.log(probability),
        "top_logprobs": [{"token": t, "logprob": math.log(p)} for t, p in top.items()],
    }


def test_label_confidence_and_runners_up() -> None:
    tokens = [
        token(" Oph", 0.96, {" All": 0.02, " Ort": 0.015}),
        token("thalm", 1.0),
        token("ologist", 1.0),
    ]
    result = classify(tokens, LABELS)
    assert result.label == "Ophthalmologist"
    assert result.confidence == pytest.approx(0.96)
    assert [score.label for score in result.runners_up] == ["Allergist", "Orthopedist"]
    assert result.text() == "Ophthalmologist (0.96); related: Allergist (0.02), Orthopedist (0.01)"


def test_runner_up_sharing_a_first_token_is_found_later() -> None:
    # "Or" starts two labels: the split comes at the second token.
    labels = ["Orthopedist", "Orthodontist"]
    tokens = [token(" Ortho", 0.9), token("ped", 0.7, {"dont": 0.25}), token("ist", 1.0)]
    result = classify(tokens, labels)
    assert result.label == "Orthopedist"
    assert result.confidence == pytest.approx(0.63)
    [runner_up] = result.runners_up
    assert runner_up.label == "Orthodontist" and runner_up.probability == pytest.approx(0.225)


def test_generated_text_that_is_no_label_maps_to_the_closest() -> None:
    assert closest_label(" billing.", ["billing", "returns"]) == "billing"
    assert closest_label("Shipping", ["billing", "shipping"]) == "shipping"
    assert closest_label("retur", ["billing", "returns"]) == "returns"


def test_no_logprobs_means_no_confidence() -> None:
    assert classify([], ["a", "b"]).confidence == 0.0


def test_text_without_runners_up() -> None:
    assert Classification("billing", 0.5, ()).text() == "billing (0.50)"
