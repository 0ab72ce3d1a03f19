"""The training tools' label probabilities, calibration error and early stopping."""

import math

import pytest
import torch

from tutorbook_training.label_scoring import LabelDistribution, expected_calibration_error, normalised
from tutorbook_training.train import EarlyStopping


def test_label_probabilities_are_normalised_over_the_labels() -> None:
    probabilities = normalised([math.log(0.04), math.log(0.07), math.log(0.01)])
    assert probabilities == pytest.approx([1 / 3, 7 / 12, 1 / 12])
    label, confidence = LabelDistribution(["a", "b", "c"], probabilities).best
    assert label == "b" and confidence == pytest.approx(7 / 12)


def test_calibration_error_is_the_binned_gap_between_confidence_and_accuracy() -> None:
    assert expected_calibration_error([0.95, 0.95], [True, True]) == pytest.approx(0.05)
    assert expected_calibration_error([0.9, 0.9, 0.3], [True, False, False]) == pytest.approx(
        2 / 3 * abs(0.5 - 0.9) + 1 / 3 * 0.3
    )
    assert math.isnan(expected_calibration_error([], []))


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lora_A = torch.nn.Parameter(torch.zeros(2))
        self.base = torch.nn.Parameter(torch.ones(2))


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience() -> None:
    model, stopping = Tiny(), EarlyStopping(patience=2)
    losses = [1.0, 0.5, 0.7, 0.6]
    stopped = []
    for epoch, loss in enumerate(losses):
        model.lora_A.data.fill_(epoch)
        stopped.append(stopping.should_stop(model, loss))
    assert stopped == [False, False, False, True]
    assert stopping.best_loss == 0.5
    assert stopping.best_state is not None and set(stopping.best_state) == {"lora_A"}
    assert stopping.best_state["lora_A"].tolist() == [1.0, 1.0]  # the weights of epoch 1, not the last


def test_without_a_validation_split_every_epoch_runs() -> None:
    stopping = EarlyStopping(patience=1)
    assert not any(stopping.should_stop(Tiny(), math.nan) for _ in range(5)) and stopping.best_state is None
