"""The training tools' label probabilities, calibration error, early stopping and label codes."""

import math

import pytest
import torch

from tutorbook_training.label_scoring import LabelDistribution, expected_calibration_error, normalised, word_codes
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


def test_word_codes_take_each_labels_rarest_one_token_word_and_leave_the_rest_to_letters() -> None:
    one_token = {"top", "pending", "Top", "transfer", "card", "fee"}.__contains__
    labels = ["automatic_top_up", "pending_top_up", "top_up_reverted", "pending_transfer", "passcode_forgotten"]
    # automatic is not one token: top; pending_top_up: "pending" is rarer than "top" (taken anyway);
    # top_up_reverted: "top" is taken, so "Top"; pending_transfer: "transfer"; passcode_forgotten: none.
    assert word_codes(labels, one_token) == ["top", "pending", "Top", "transfer", None]
    # at most 8 characters; words of one character are no code (nor fragments of a non-ASCII word)
    assert word_codes(["the_overlongword_xy", "b", "réclamation"], lambda code: True) == ["xy", None, None]


def test_a_word_that_is_not_one_token_answers_by_its_longest_one_token_beginning() -> None:
    one_token = {"account", "bill", "billi", "ship", "techn", "tech", "returns", "pas", "with"}.__contains__
    labels = ["account", "billing", "returns", "shipping", "technical", "passcode_forgotten", "withdrawal"]
    # billing: "billi" is longer than "bill"; a beginning is four letters or more ("pas" is not), and no
    # common word ("with"): both of those fall back to letters
    assert word_codes(labels, one_token) == ["account", "billi", "returns", "ship", "techn", None, None]


def test_a_beginning_never_takes_a_word_another_label_has_whole() -> None:
    one_token = {"trans", "fee"}.__contains__
    # transactions' only one-token beginning is "trans", which trans_fee has whole: it keeps it
    assert word_codes(["transactions", "trans_fee"], one_token) == [None, "trans"]
