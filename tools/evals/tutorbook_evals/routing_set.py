"""The labelled routing set: what a request is, and the route the router should pick for it.

- ``rag``: the sample knowledge base's questions (``samples/questions.jsonl``).
- ``adapter``: held-out requests of the demo adapter's task (``samples/support_triage/test.jsonl``).
- ``prompt``: CLINC150's small-talk intents ("how old are you", "tell me a joke"), from the chosen split.
- ``abstain``: CLINC150's out-of-scope queries from the chosen split, and ``samples/out_of_scope.jsonl``.

CLINC150 is read where it lies (``../shared/eval-data/clinc150``); nothing is copied into the project.
The router's thresholds were chosen on the ``val`` split; report the ``test`` split.
"""

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tutorbook_adapter_format.card import AdapterCard

Split = Literal["val", "test"]
ROUTES = ("rag", "adapter", "prompt", "abstain")
SMALL_TALK_PER_INTENT = 4
OUT_OF_SCOPE_SAMPLE = 50
DEMO_ADAPTER = "support-triage"


@dataclass(frozen=True)
class RoutingCase:
    text: str
    expected: str  # one of ROUTES
    source: str


def read_jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def default_eval_data(repo_root: Path) -> Path | None:
    """``TUTORBOOK_EVAL_DATA``, else ``../shared/eval-data`` beside the checkout, else ``/work/shared/eval-data``."""
    candidates = [os.environ.get("TUTORBOOK_EVAL_DATA"), repo_root.parent / "shared" / "eval-data"]
    candidates.append("/work/shared/eval-data")
    for candidate in candidates:
        if candidate and (Path(candidate) / "clinc150" / "data_full.json").is_file():
            return Path(candidate)
    return None


def clinc_cases(clinc: Path, split: Split, seed: int) -> list[RoutingCase]:
    data = json.loads((clinc / "data_full.json").read_text(encoding="utf-8"))
    small_talk_intents = set(json.loads((clinc / "domains.json").read_text(encoding="utf-8"))["small_talk"])
    rng = random.Random(seed)
    by_intent: dict[str, list[str]] = {}
    for text, intent in data[split]:
        if intent in small_talk_intents:
            by_intent.setdefault(intent, []).append(text)
    cases = [
        RoutingCase(text, "prompt", f"clinc150 {split} {intent}")
        for intent in sorted(by_intent)
        for text in rng.sample(by_intent[intent], SMALL_TALK_PER_INTENT)
    ]
    out_of_scope = [text for text, _ in data[f"oos_{split}"]]
    sample = rng.sample(out_of_scope, min(OUT_OF_SCOPE_SAMPLE, len(out_of_scope)))
    return cases + [RoutingCase(text, "abstain", f"clinc150 oos_{split}") for text in sample]


def routing_cases(samples: Path, clinc: Path, split: Split, seed: int = 0) -> list[RoutingCase]:
    cases = [
        RoutingCase(row["question"], "rag", "samples/questions") for row in read_jsonl(samples / "questions.jsonl")
    ]
    triage = read_jsonl(samples / "support_triage" / "test.jsonl")
    cases += [RoutingCase(row["text"], "adapter", "samples/support_triage/test") for row in triage]
    cases += clinc_cases(clinc, split, seed)
    oos = read_jsonl(samples / "out_of_scope.jsonl")
    return cases + [RoutingCase(row["question"], "abstain", "samples/out_of_scope") for row in oos]


def demo_adapter_card(samples: Path, base_model: str) -> AdapterCard:
    """The card the demo adapter is uploaded with: its labels, and its training requests as route examples."""
    train = read_jsonl(samples / "support_triage" / "train.jsonl")
    return AdapterCard(
        name=DEMO_ADAPTER,
        base_model=base_model,
        task_type="classifier",
        labels=sorted({row["label"] for row in train}),
        route_examples=[row["text"] for row in train],
    )
