"""A second-stage reranker trained on a team's own documents: a cross-encoder started from the embedder's
weights (all-MiniLM-L6-v2: no reranker model ships on the registries this project installs from).

It reads a question and a passage together and scores how well the passage answers it. It learns from
pairs mined from the corpus itself (:mod:`tutorbook_training.reranker_pairs`): a section's heading as the
question, the section's text as the answer, and, as hard negatives, the passages of other sections the
first stage ranks highest for that heading. Training is listwise: each heading's positive against its
negatives, with a softmax cross-entropy over the group.
"""

import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedTokenizerBase

from tutorbook_training.reranker_pairs import RerankGroup

MAX_TOKENS = 256  # WordPiece tokens, question and passage together (the end of a long passage is cut)
MANIFEST = "reranker.json"


@dataclass(frozen=True)
class RerankTraining:
    epochs: int = 3
    groups_per_step: int = 4
    learning_rate: float = 1e-4
    seed: int = 0


class CrossEncoderReranker:
    """Scores (question, passage) pairs; higher is a better answer. CPU, eval mode, no gradients."""

    def __init__(self, model: Any, tokenizer: PreTrainedTokenizerBase) -> None:
        self._model = model.eval()
        self._tokenizer = tokenizer

    @classmethod
    def load(cls, folder: Path) -> "CrossEncoderReranker":
        """A reranker :func:`save_reranker` wrote."""
        model = AutoModelForSequenceClassification.from_pretrained(str(folder), num_labels=1)
        return cls(model, AutoTokenizer.from_pretrained(str(folder)))

    def score(self, question: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        with torch.inference_mode():
            logits = self._model(**encode(self._tokenizer, question, passages)).logits
        return [float(value) for value in logits.view(-1)]


def encode(tokenizer: PreTrainedTokenizerBase, question: str, passages: Sequence[str]) -> Any:
    return tokenizer(
        [question] * len(passages), list(passages), truncation="only_second", max_length=MAX_TOKENS,
        padding=True, return_tensors="pt",
    )  # fmt: skip


def train_reranker(base: Path, groups: Sequence[RerankGroup], training: RerankTraining) -> tuple[Any, Any, float]:
    """A cross-encoder from ``base`` (a BERT-style model folder; its classification head starts random)
    trained on ``groups``; returns the model, its tokenizer and the last epoch's mean loss."""
    torch.manual_seed(training.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=training.learning_rate)
    order = list(groups)
    mean_loss = 0.0
    for epoch in range(training.epochs):
        random.Random(training.seed + epoch).shuffle(order)
        losses = [
            train_step(model, tokenizer, optimizer, order[start : start + training.groups_per_step])
            for start in range(0, len(order), training.groups_per_step)
        ]
        mean_loss = sum(losses) / max(len(losses), 1)
    return model.eval(), tokenizer, mean_loss


def train_step(model: Any, tokenizer: PreTrainedTokenizerBase, optimizer: Any, batch: Sequence[RerankGroup]) -> float:
    """One step over ``batch``: each group's passages are [positive, *negatives], so the target is 0."""
    model.train()
    loss = torch.zeros(())
    for group in batch:
        logits = model(**encode(tokenizer, group.question, [group.positive, *group.negatives])).logits.view(1, -1)
        loss = loss + torch.nn.functional.cross_entropy(logits, torch.zeros(1, dtype=torch.long))
    loss = loss / len(batch)
    optimizer.zero_grad()
    loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
    optimizer.step()
    return float(loss.detach())


def save_reranker(model: Any, tokenizer: Any, folder: Path, manifest: dict[str, Any]) -> Path:
    """The model, its tokenizer and a manifest (what it was trained from, on what, when) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    (folder / MANIFEST).write_text(json.dumps(manifest | {"trained_at": time.time()}, indent=2) + "\n")
    return folder
