"""The training loss of a classifier answering by code: label smoothing over the codes only, where the
code is; plain cross-entropy elsewhere."""

import math
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from tutorbook_training.answer_loss import CodeSmoothing, answer_loss

VOCAB = 6
CODES = [2, 3, 4]  # three labels' code tokens; 5 ends the turn


class FixedLogits(torch.nn.Module):
    """A language model whose next-token distribution is the same at every position: ``probabilities``."""

    def __init__(self, probabilities: list[float]) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(torch.tensor(probabilities).log())

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: Any = None) -> Any:
        logits = self.logits.expand(*input_ids.shape, VOCAB)
        loss = None
        if labels is not None:
            flat = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), labels[:, 1:].reshape(-1))
            loss = flat
        return SimpleNamespace(logits=logits, loss=loss)


def batch() -> dict[str, torch.Tensor]:
    """One example: two prompt tokens, then the answer: code 3 and the end of the turn (5)."""
    ids = torch.tensor([[0, 1, 3, 5]])
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([[-100, -100, 3, 5]])}


def loss_value(loss: torch.Tensor) -> float:
    return float(loss.detach())


PROBABILITIES = [0.05, 0.05, 0.1, 0.6, 0.1, 0.1]


def test_without_smoothing_it_is_the_cross_entropy_over_the_answer() -> None:
    expected = -(math.log(0.6) + math.log(0.1)) / 2
    assert loss_value(answer_loss(FixedLogits(PROBABILITIES), batch())) == pytest.approx(expected, rel=1e-5)
    none = CodeSmoothing(CODES, 0.0)
    assert loss_value(answer_loss(FixedLogits(PROBABILITIES), batch(), none)) == pytest.approx(expected, rel=1e-5)


def test_the_code_is_trained_towards_the_smoothed_distribution_over_the_codes_only() -> None:
    smoothed = 0.9 * -math.log(0.6) + 0.1 * -(math.log(0.1) + math.log(0.1)) / 2  # the code's position
    expected = (smoothed - math.log(0.1)) / 2  # and the end of the turn, unchanged
    loss = answer_loss(FixedLogits(PROBABILITIES), batch(), CodeSmoothing(CODES, 0.1))
    assert loss_value(loss) == pytest.approx(expected, rel=1e-5)


def test_its_minimum_gives_the_right_code_one_minus_the_smoothing_among_the_codes() -> None:
    model = FixedLogits([1 / VOCAB] * VOCAB)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(2000):
        loss = answer_loss(
            model, {**batch(), "labels": torch.tensor([[-100, -100, 3, -100]])}, CodeSmoothing(CODES, 0.2)
        )
        optimiser.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
    among_codes = torch.softmax(model.logits[CODES], dim=0)
    assert among_codes.tolist() == pytest.approx([0.1, 0.8, 0.1], abs=0.01)  # never trained towards 1
