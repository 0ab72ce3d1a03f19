"""Scoring a classifier by its labels' full token sequences, the way the gateway serves it.

Every label is scored as the complete answer (its tokens and the end of the turn) after the prompt; the
probabilities are normalised over the label set, so the answer is the most probable label and its
confidence is comparable with the runners-up. The prompt is run once; the labels share its key/value cache.
"""

import math
from dataclasses import dataclass
from typing import Any

import torch

from tutorbook_adapter_format.classification import softmax


@dataclass(frozen=True)
class LabelDistribution:
    labels: list[str]
    probabilities: list[float]

    @property
    def best(self) -> tuple[str, float]:
        index = max(range(len(self.labels)), key=self.probabilities.__getitem__)
        return self.labels[index], self.probabilities[index]


def normalised(logprobs: list[float]) -> list[float]:
    """The log-probabilities, in their order, as probabilities over the list (the serving softmax)."""
    probabilities = softmax(dict(enumerate(logprobs)))
    return [probabilities[index] for index in range(len(logprobs))]


PROBE = [{"role": "user", "content": "?"}]


def chat_token_ids(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool) -> list[int]:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    ids: list[int] = tokenizer(text, add_special_tokens=False)["input_ids"]
    return ids


def label_token_ids(tokenizer: Any, labels: list[str]) -> list[list[int]]:
    """Each label as the assistant's whole answer, as the chat template renders it (the gateway's
    ``chat/label_scoring.py`` takes the same tokens from vLLM's ``/tokenize``)."""
    prompt = chat_token_ids(tokenizer, PROBE, add_generation_prompt=True)
    answers = [chat_token_ids(tokenizer, [*PROBE, {"role": "assistant", "content": label}], False) for label in labels]
    return [answer[len(prompt) :] for answer in answers]


def sequence_logprobs(model: Any, prompt_ids: list[int], continuations: list[list[int]]) -> list[float]:
    """log P(continuation | prompt) for each continuation, summed over its tokens."""
    with torch.no_grad():
        prompt = model(input_ids=torch.tensor([prompt_ids]), use_cache=True)
        first = torch.log_softmax(prompt.logits[0, -1].float(), dim=-1)
        cache = prompt.past_key_values
        cache.batch_repeat_interleave(len(continuations))
        width = max(len(ids) for ids in continuations)
        batch = torch.zeros((len(continuations), width), dtype=torch.long)
        for row, ids in enumerate(continuations):
            batch[row, : len(ids)] = torch.tensor(ids)
        mask = torch.ones((len(continuations), len(prompt_ids) + width), dtype=torch.long)
        rest = torch.log_softmax(model(input_ids=batch, past_key_values=cache, attention_mask=mask).logits.float(), -1)
    totals = []
    for row, ids in enumerate(continuations):
        total = float(first[ids[0]])
        total += sum(float(rest[row, position - 1, ids[position]]) for position in range(1, len(ids)))
        totals.append(total)
    return totals


def score_labels(model: Any, tokenizer: Any, messages: list[dict[str, str]], labels: list[str]) -> LabelDistribution:
    prompt_ids = chat_token_ids(tokenizer, messages, add_generation_prompt=True)
    logprobs = sequence_logprobs(model, prompt_ids, label_token_ids(tokenizer, labels))
    return LabelDistribution(list(labels), normalised(logprobs))


def expected_calibration_error(confidences: list[float], correct: list[bool], bins: int = 10) -> float:
    """The gap between confidence and accuracy, averaged over equal-width confidence bins by their size."""
    if not confidences:
        return math.nan
    total = 0.0
    for index in range(bins):
        low, high = index / bins, (index + 1) / bins
        members = [i for i, c in enumerate(confidences) if low < c <= high or (index == 0 and c == 0.0)]
        if members:
            accuracy = sum(correct[i] for i in members) / len(members)
            confidence = sum(confidences[i] for i in members) / len(members)
            total += len(members) / len(confidences) * abs(accuracy - confidence)
    return total
