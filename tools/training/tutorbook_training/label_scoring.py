"""Scoring a classifier the ways the gateway serves it.

A classifier trained to answer with label codes (one token each, :func:`label_codes`) is scored in one
step: the log-probabilities of every code's token as the first token of the answer (:func:`score_codes`).
The reference, and the way an adapter trained on whole labels is served: every label scored as the
complete answer (its tokens and the end of the turn) after the prompt (:func:`score_labels`). Either way
the probabilities are normalised over the label set, so the answer is the most probable label and its
confidence is comparable with the runners-up.
"""

import itertools
import math
import re
import string
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from tutorbook_adapter_format.card import MAX_CODE_CHARS, MAX_CODED_LABELS
from tutorbook_adapter_format.classification import softmax
from tutorbook_training.data import DataError, Dataset, with_labels


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


def code_candidates() -> Iterator[str]:
    """A to Z, then two capital letters (AA, AB, ...): short, distinct, and with no meaning of their own."""
    yield from string.ascii_uppercase
    yield from ("".join(pair) for pair in itertools.product(string.ascii_uppercase, repeat=2))


def answer_tokens(tokenizer: Any, answers: list[str]) -> list[list[int]]:
    """Each answer's tokens as the assistant's whole turn, its end included (as the chat template renders it)."""
    prompt = chat_token_ids(tokenizer, PROBE, add_generation_prompt=True)
    rendered = [chat_token_ids(tokenizer, [*PROBE, {"role": "assistant", "content": a}], False) for a in answers]
    return [ids[len(prompt) :] for ids in rendered]


CodeStyle = Literal["letters", "words"]
COMMON_WORDS = frozenset(
    {"a", "an", "and", "after", "by", "for", "get", "in", "into", "not", "of", "on", "the", "to", "up", "with"}
)


def label_codes(tokenizer: Any, labels: list[str], style: CodeStyle = "words") -> list[str]:
    """A code per label, each a single token as the assistant's answer (then the end of the turn, as for
    every other code): one decoding step gives every label's log-probability. ``words`` (the default): a
    word of the label's own where one is a single token and not yet taken (its rarest among the labels
    first, then capitalised, then the word's longest one-token beginning of four letters or more), else
    the next free letter code; ``letters``: A, B, C, ... (the first codes,
    measured against words in docs/adapters.md)."""
    if len(labels) > MAX_CODED_LABELS:
        raise DataError(f"{len(labels)} labels: at most {MAX_CODED_LABELS} answer by code; train with --answer label")
    end = answer_tokens(tokenizer, ["A"])[0][1:]

    def one_token(candidate: str) -> bool:
        tokens = answer_tokens(tokenizer, [candidate])[0]
        return len(tokens) == 1 + len(end) and tokens[1:] == end

    chosen = word_codes(labels, one_token) if style == "words" else [None] * len(labels)
    letters = (code for code in code_candidates() if code not in chosen and one_token(code))
    try:
        return [code or next(letters) for code in chosen]
    except StopIteration:
        raise ValueError(f"the tokenizer has no {len(labels)} one-token codes among the candidates") from None


MIN_STEM_CHARS = 4


def stems(word: str) -> list[str]:
    """The word's own beginnings, longest first, as a code for a word that is not one token ("bill" for
    billing, "ship" for shipping): at least four letters, and never a common word."""
    if not (word.isascii() and word.isalpha()):
        return []
    longest = min(len(word) - 1, MAX_CODE_CHARS)
    return [word[:n] for n in range(longest, MIN_STEM_CHARS - 1, -1) if word[:n] not in COMMON_WORDS]


def word_codes(labels: list[str], one_token: Callable[[str], bool]) -> list[str | None]:
    """Per label, a word of its own that is one token and no other label's code yet: the word, else it
    capitalised; then, for the labels still without one, a word's longest one-token beginning (so a
    beginning never takes a word another label has whole). None where there is none."""
    words = [[w for w in re.split(r"\W+|_", label.lower()) if len(w) > 1 and w not in COMMON_WORDS] for label in labels]
    labels_with = Counter(word for found in words for word in set(found))
    ranked = [sorted(found, key=lambda word: (labels_with[word], -len(word))) for found in words]
    codes: list[str | None] = [None] * len(labels)

    def first_free(candidates: Iterable[str]) -> str | None:
        return next((c for c in candidates if c not in codes and len(c) <= MAX_CODE_CHARS and one_token(c)), None)

    for index, own in enumerate(ranked):
        codes[index] = first_free([*own, *(word.capitalize() for word in own)])
    for index, own in enumerate(ranked):
        codes[index] = codes[index] or first_free(s for word in own for s in stems(word))
    return codes


def with_codes(dataset: Dataset, base_model: Path, style: CodeStyle = "words") -> Dataset:
    """A classifier's data answered with one-token codes, chosen on the base model's tokenizer."""
    from transformers import AutoTokenizer

    codes = label_codes(AutoTokenizer.from_pretrained(base_model), dataset.labels, style)
    return with_labels(dataset, dataset.labels, codes)


def score_codes(
    model: Any, tokenizer: Any, messages: list[dict[str, str]], labels: list[str], codes: list[str]
) -> LabelDistribution:
    """One step: each code's token as the answer's first token, normalised over the codes."""
    code_ids = [tokens[0] for tokens in answer_tokens(tokenizer, codes)]
    prompt_ids = chat_token_ids(tokenizer, messages, add_generation_prompt=True)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt_ids])).logits[0, -1].float()
    logprobs = torch.log_softmax(logits, dim=-1)
    return LabelDistribution(list(labels), normalised([float(logprobs[token]) for token in code_ids]))


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


def score_labels(
    model: Any, tokenizer: Any, messages: list[dict[str, str]], labels: list[str], answers: list[str] | None = None
) -> LabelDistribution:
    """Every label's answer (the label, or its code) scored as the whole answer: the reference, exact, one
    continuation per label (the gateway's ``chat/classifying.py`` takes the same tokens from vLLM's
    ``/tokenize``)."""
    prompt_ids = chat_token_ids(tokenizer, messages, add_generation_prompt=True)
    logprobs = sequence_logprobs(model, prompt_ids, answer_tokens(tokenizer, answers or labels))
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
