"""The request mix a product app sends: RAG questions, repeated questions (cache hits), small talk, a
classifier adapter, and streamed answers. Plain data; the driver sends it."""

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Share of each kind in the mix (they sum to 1).
MIX = {"rag": 0.35, "cache_hit": 0.2, "small_talk": 0.15, "adapter": 0.15, "stream": 0.15}
# The mixes the load tool can send (--mix): the product app's above, or every request a new RAG question.
MIXES: dict[str, dict[str, float]] = {"default": MIX, "rag": {"rag": 1.0}}
REPEATED_QUESTIONS = ("How long is the warranty on Brightleaf products?", "How much does the AeroPure 300 cost?")
SMALL_TALK = ("hi", "hello there", "thanks, that helps!", "good morning", "thank you so much")
MAX_TOKENS = {"rag": 48, "cache_hit": 48, "small_talk": 24, "adapter": 8, "stream": 48}


@dataclass(frozen=True)
class PlannedRequest:
    kind: str
    body: dict[str, Any]
    topic: str = ""  # the question, ticket or phrase it was made from (before its serial)

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


@dataclass(frozen=True)
class MixSources:
    questions: tuple[str, ...]
    tickets: tuple[str, ...]
    adapter: str | None  # the classifier adapter's name; None: its share goes to RAG

    @classmethod
    def from_samples(cls, samples: Path, adapter: str | None) -> "MixSources":
        return cls(
            questions=tuple(_field(samples / "questions.jsonl", "question")),
            tickets=tuple(_field(samples / "support_triage" / "test.jsonl", "text")),
            adapter=adapter,
        )


def _field(path: Path, name: str) -> list[str]:
    return [json.loads(line)[name] for line in path.read_text().splitlines() if line.strip()]


def plan_request(
    sources: MixSources, rng: random.Random, serial: int, kind: str | None = None, mix: Mapping[str, float] = MIX
) -> PlannedRequest:
    """One request of ``mix`` (of ``kind`` when given); ``serial`` makes new questions new (a cache miss),
    as real traffic is."""
    kind = kind or rng.choices(list(mix), weights=list(mix.values()))[0]
    if kind == "adapter" and sources.adapter is None:
        kind = "rag"
    return request_of(sources, kind, rng.choice(topics(sources, kind)), serial)


def topics(sources: MixSources, kind: str) -> tuple[str, ...]:
    """What requests of ``kind`` are made from."""
    pools = {"cache_hit": REPEATED_QUESTIONS, "small_talk": SMALL_TALK, "adapter": sources.tickets}
    return pools.get(kind, sources.questions)


def request_of(sources: MixSources, kind: str, topic: str, serial: int) -> PlannedRequest:
    """The request of ``kind`` made from ``topic``: questions and tickets made new by ``serial``."""
    model, text = "auto", topic
    if kind == "adapter":
        text, model = f"{topic} (ticket {serial})", str(sources.adapter)
    elif kind in ("rag", "stream"):
        text = f"{topic} (asked {serial})"
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": MAX_TOKENS[kind],
    }
    if kind == "stream":
        body["stream"] = True
    return PlannedRequest(kind, body, topic)
