"""Training data: JSONL of chat examples (``messages``) or classifier pairs (``text``, ``label``).

A classifier pair becomes the chat the adapter is trained and served with (the shared classifier prompt,
then the label as the assistant's answer; or, with label codes, the label's code), so serving and training
never drift apart.
"""

import dataclasses
import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tutorbook_adapter_format.card import CARD_FILE, AdapterCard, TutorKind, encode_card
from tutorbook_adapter_format.classification import classifier_messages

TaskType = Literal["generative", "classifier"]


class DataError(ValueError):
    """The training file is malformed; the message names the line."""


@dataclass(frozen=True)
class Example:
    messages: list[dict[str, str]]  # the prompt: everything before the answer
    answer: str
    label: str | None = None  # classifiers
    text: str | None = None


@dataclass(frozen=True)
class Dataset:
    task_type: TaskType
    examples: list[Example]
    labels: list[str]
    sha256: str
    codes: list[str] = field(default_factory=list)  # a classifier that answers with a code per label


def classifier_example(labels: list[str], codes: list[str], text: str, label: str) -> Example:
    """The chat a classifier is trained on: the shared prompt, then the label (or its code) as the answer."""
    answer = codes[labels.index(label)] if codes else label
    return Example(classifier_messages(labels, text, codes or None), answer, label, text)


def classifier_dataset(labels: list[str], pairs: list[tuple[str, str]], sha256: str = "") -> Dataset:
    """(text, label) pairs as a classifier's training data, answered with whole labels."""
    examples = [classifier_example(labels, [], text, label) for text, label in pairs]
    return Dataset("classifier", examples, list(labels), sha256)


def with_labels(dataset: Dataset, labels: list[str], codes: list[str]) -> Dataset:
    """The same classifier pairs, prompted with these labels (an adapter's, in its order) and codes."""
    unknown = {example.label for example in dataset.examples} - set(labels)
    if unknown:
        raise DataError(f"labels the adapter does not know: {sorted(str(label) for label in unknown)}")
    examples = [classifier_example(labels, codes, e.text or "", e.label or "") for e in dataset.examples]
    return dataclasses.replace(dataset, examples=examples, labels=list(labels), codes=list(codes))


def read_rows(path: Path) -> list[dict[str, object]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{path}:{number}: not JSON ({exc})") from exc
        if not isinstance(row, dict):
            raise DataError(f"{path}:{number}: each line must be a JSON object")
        rows.append(row)
    if not rows:
        raise DataError(f"{path} holds no examples")
    return rows


def chat_example(row: dict[str, object], where: str) -> Example:
    messages = row.get("messages")
    if not isinstance(messages, list) or len(messages) < 2:
        raise DataError(f"{where}: 'messages' must be a list ending with the assistant's answer")
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise DataError(f"{where}: every message needs a role and a string content")
    *prompt, last = messages
    if last.get("role") != "assistant":
        raise DataError(f"{where}: the last message must be the assistant's answer")
    return Example([{"role": str(m["role"]), "content": str(m["content"])} for m in prompt], str(last["content"]))


def load_dataset(path: Path) -> Dataset:
    rows = read_rows(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if all("text" in row and "label" in row for row in rows):
        labels = sorted({str(row["label"]) for row in rows})
        if len(labels) < 2:
            raise DataError(f"{path}: a classifier needs at least two labels")
        examples = [classifier_example(labels, [], str(row["text"]), str(row["label"])) for row in rows]
        return Dataset("classifier", examples, labels, digest)
    examples = [chat_example(row, f"{path}:{index + 1}") for index, row in enumerate(rows)]
    return Dataset("generative", examples, [], digest)


def split(examples: list[Example], validation_fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    shuffled = list(examples)
    random.Random(seed).shuffle(shuffled)
    held = round(len(shuffled) * validation_fraction)
    return shuffled[held:], shuffled[:held]


def route_examples(dataset: Dataset, limit: int = 100) -> list[str]:
    """What the router should send to the adapter: its training requests (the last user message)."""
    texts = [example.text or example.messages[-1]["content"] for example in dataset.examples]
    return list(dict.fromkeys(text for text in texts if text.strip()))[:limit]


def write_card(
    dataset: Dataset,
    name: str,
    base_model: str,
    output: Path,
    figures: dict[str, float],
    kind: TutorKind = "lora",
    routed: bool = True,
) -> AdapterCard:
    """The card beside what was trained: its labels, route examples, the data's hash and the training's
    figures. ``base_model``: the served base model (an embedding classifier: the embedder). An adapter
    that is not ``routed`` has no route examples: "auto" never picks it by the question (the grounded
    reader is used for the RAG route's answers instead, or when a request names it)."""
    card = AdapterCard(
        name=name,
        base_model=base_model,
        task_type=dataset.task_type,
        kind=kind,
        labels=dataset.labels,
        label_codes=dataset.codes,
        route_examples=route_examples(dataset) if routed else [],
        training_data_sha256=dataset.sha256,
        eval={"training": {key: round(value, 4) for key, value in figures.items() if not math.isnan(value)}},
    )
    (output / CARD_FILE).write_bytes(encode_card(card))
    return card
