"""The training loss: cross-entropy over the answer's tokens (the prompt is masked), and, for a classifier
answering by code, label smoothing over the codes.

A classifier answering by code is served by one decoding step: its confidence is the code token's
probability normalised over the label set's codes. Trained with plain cross-entropy, that probability is
pushed towards 1 on every training example until the loss is near 0, and the confidence it serves is
too high for how often it is right (docs/adapters.md measures it). Label smoothing (Szegedy et al. 2016,
"Rethinking the Inception Architecture"; Müller et al. 2019, "When does label smoothing help?") trains
the code's position towards ``1 - smoothing`` on the right code and ``smoothing`` spread evenly over the
other codes, so the served distribution over the codes is a probability the adapter was trained to give.
The other tokens of the answer (the end of the turn) keep plain cross-entropy.
"""

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class CodeSmoothing:
    code_ids: list[int]  # each code's token, in the labels' order
    smoothing: float  # the probability spread over the other codes


def code_token_ids(tokenizer: Any, codes: list[str]) -> list[int]:
    """Each code's token as :func:`tutorbook_training.train.encode` writes it into the answer."""
    return [int(tokenizer(code, add_special_tokens=False)["input_ids"][0]) for code in codes]


def answer_loss(model: Any, batch: dict[str, torch.Tensor], codes: CodeSmoothing | None = None) -> torch.Tensor:
    """The mean loss over the answer tokens of ``batch`` (labels -100 elsewhere)."""
    if codes is None or codes.smoothing <= 0:
        plain: torch.Tensor = model(**batch).loss
        return plain
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    targets = batch["labels"][:, 1:]
    answered = targets != -100
    losses = -logprobs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    rows = torch.arange(targets.shape[0], device=targets.device)
    first = answered.int().argmax(dim=1)  # the code: each answer's first token
    code_losses = -logprobs[rows, first][:, codes.code_ids]  # (rows, codes)
    right = losses[rows, first]
    others = (code_losses.sum(dim=-1) - right) / (len(codes.code_ids) - 1)
    correction = torch.zeros_like(losses)
    correction[rows, first] = codes.smoothing * (others - right)
    return ((losses + correction) * answered).sum() / answered.sum()
