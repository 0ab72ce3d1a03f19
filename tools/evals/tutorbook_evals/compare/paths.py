"""The paths a comparison sends every example down, as chat requests to the running gateway.

- ``zero_shot``: the base model, asked directly (a classifier's prompt lists the labels);
- ``few_shot``: the base model with solved examples from the training data as earlier turns;
- ``rag``: retrieval forced (``tutorbook.route = "rag"``), answered from the passages with citations;
- ``adapter``: the adapter, named as the model;
- ``router``: ``auto``, the question as a product app would send it.
"""

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tutorbook_adapter_format.classification import classifier_messages
from tutorbook_evals.compare.datasets import ClassificationSet, Labelled

CLASSIFY_MAX_TOKENS = 16
ANSWER_MAX_TOKENS = 256
PATH_TITLES = {
    "zero_shot": "zero-shot prompting",
    "few_shot": "few-shot prompting",
    "rag": "RAG",
    "adapter": "adapter",
    "router": "router (auto)",
    "embedding_classifier": "embedding classifier",
}

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class PathRequest:
    """How one path asks: the chat body for a text (the question or the message to classify)."""

    name: str
    body: Callable[[str], dict[str, Any]]


def chat_body(model: str, messages: Messages, max_tokens: int, seed: int, route: str | None = None) -> dict[str, Any]:
    """``seed`` is the run's: part of the response cache's key, so no answer comes from an earlier run."""
    body: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0.0}
    body["seed"] = seed
    if route is not None:
        body["tutorbook"] = {"route": route}
    return body


def pick_shots(dataset: ClassificationSet, per_label: int, limit: int, seed: int) -> list[Labelled]:
    """``per_label`` training examples of each label, at most ``limit`` in all (a prompt has room for so many)."""
    rng = random.Random(seed)
    shots = []
    for label in dataset.labels:
        of_label = [example for example in dataset.train if example.label == label]
        shots += rng.sample(of_label, min(per_label, len(of_label)))
    rng.shuffle(shots)
    return shots[:limit]


def shot_turns(shots: list[tuple[str, str]]) -> Messages:
    return [
        turn
        for text, answer in shots
        for turn in ({"role": "user", "content": text}, {"role": "assistant", "content": answer})
    ]


def classification_paths(
    dataset: ClassificationSet, base_model: str, adapter: str | None, shots: list[Labelled], seed: int
) -> list[PathRequest]:
    def prompted(text: str, with_shots: bool) -> Messages:
        system, question = classifier_messages(dataset.labels, text)
        turns = shot_turns([(shot.text, shot.label) for shot in shots]) if with_shots else []
        return [system, *turns, question]

    paths = [
        PathRequest("zero_shot", lambda text: chat_body(base_model, prompted(text, False), CLASSIFY_MAX_TOKENS, seed)),
        PathRequest("few_shot", lambda text: chat_body(base_model, prompted(text, True), CLASSIFY_MAX_TOKENS, seed)),
    ]
    if adapter is not None:
        asked = {"role": "user", "content": ""}
        paths.append(PathRequest("adapter", lambda text: chat_body(adapter, [{**asked, "content": text}], 16, seed)))
        paths.append(PathRequest("router", lambda text: chat_body("auto", [{**asked, "content": text}], 16, seed)))
    return paths


def qa_paths(
    base_model: str, adapter: str | None, shots: list[tuple[str, str]], seed: int, max_tokens: int = ANSWER_MAX_TOKENS
) -> list[PathRequest]:
    def asked(text: str) -> Messages:
        return [{"role": "user", "content": text}]

    paths = [
        PathRequest("zero_shot", lambda text: chat_body(base_model, asked(text), max_tokens, seed)),
        PathRequest(
            "few_shot", lambda text: chat_body(base_model, [*shot_turns(shots), *asked(text)], max_tokens, seed)
        ),
        PathRequest("rag", lambda text: chat_body("auto", asked(text), max_tokens, seed, route="rag")),
    ]
    if adapter is not None:
        paths.append(PathRequest("adapter", lambda text: chat_body(adapter, asked(text), max_tokens, seed)))
    paths.append(PathRequest("router", lambda text: chat_body("auto", asked(text), max_tokens, seed)))
    return paths
