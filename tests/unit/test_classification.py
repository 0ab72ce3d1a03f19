"""A classifier adapter's label, confidence and runners-up, from each label's whole-answer log-probability."""

import math

import pytest

from tutorbook_adapter_format.card import closest_label
from tutorbook_adapter_format.classification import classification_from_logprobs
from tutorbook_gateway.chat.classifying import continuation, continuation_logprob


def test_confidence_is_normalised_over_the_labels() -> None:
    result = classification_from_logprobs(
        {"Ophthalmologist": math.log(0.6), "Allergist": math.log(0.02), "Orthopedist": math.log(0.005)}
    )
    assert result.label == "Ophthalmologist"
    assert result.confidence == pytest.approx(0.6 / 0.625)
    assert [score.label for score in result.runners_up] == ["Allergist"]  # Orthopedist: under 0.01
    assert result.text() == "Ophthalmologist (0.96); related: Allergist (0.03)"


def test_at_most_three_runners_up_most_probable_first() -> None:
    result = classification_from_logprobs({f"label-{i}": -float(i) for i in range(6)})
    assert result.label == "label-0"
    assert [score.label for score in result.runners_up] == ["label-1", "label-2", "label-3"]


def test_a_common_offset_does_not_change_the_answer() -> None:
    near = classification_from_logprobs({"a": -1.0, "b": -2.0})
    far = classification_from_logprobs({"a": -1001.0, "b": -1002.0})
    assert near == far and near.confidence == pytest.approx(1 / (1 + math.exp(-1)))


def test_the_continuation_is_scored_from_prompt_logprobs() -> None:
    prompt_logprobs = [None, {"5": {"logprob": -3.0}}, {"7": {"logprob": -0.5}}, {"2": {"logprob": -0.25}}]
    assert continuation_logprob(prompt_logprobs, [7, 2]) == pytest.approx(-0.75)
    with pytest.raises(ValueError, match="token 8"):
        continuation_logprob(prompt_logprobs, [8, 2])


def test_a_label_continues_the_generation_prompt() -> None:
    assert continuation([1, 2, 3], [1, 2, 3, 9, 4]) == [9, 4]
    with pytest.raises(ValueError):
        continuation([1, 2, 3], [1, 5, 3, 9])


def test_generated_text_that_is_no_label_maps_to_the_closest() -> None:
    assert closest_label(" billing.", ["billing", "returns"]) == "billing"
    assert closest_label("Shipping", ["billing", "shipping"]) == "shipping"
    assert closest_label("retur", ["billing", "returns"]) == "returns"
