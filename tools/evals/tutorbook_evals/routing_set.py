"""The labelled routing set: what a request is, and the route the router should pick for it.

- ``rag``: the sample knowledge base's questions (``samples/questions.jsonl``).
- ``adapter``: held-out requests of the demo adapter's task (``samples/support_triage/test.jsonl``).
- ``prompt``: CLINC150's small-talk intents ("how old are you", "tell me a joke"), from the chosen split.
- ``abstain``: CLINC150's out-of-scope queries from the chosen split, and ``samples/out_of_scope.jsonl``.

CLINC150 is read where it lies (``../shared/eval-data/clinc150``); nothing is copied into the project.
The router's thresholds were chosen on the ``val`` split; report the ``test`` split.

The two splits share nothing, compared by :func:`normalised` text (case, punctuation and spacing ignored):

- each sample file is halved (:func:`halves`): its distinct texts, grouped by the document or label they
  are about, ordered by a SHA-256 of the text, alternate between ``val`` and ``test``;
- CLINC150's own splits are used, and a ``test`` query whose text is also a CLINC150 ``val`` query is
  dropped before sampling;
- a request the router has seen, one of its own small-talk / off-topic examples or one of the demo
  adapter's route examples (its training requests), is in neither split;
- finally, a ``test`` request whose text is in the ``val`` split (from whichever source) is dropped.
"""

import hashlib
import json
import os
import random
import unicodedata
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from tutorbook_adapter_format.card import AdapterCard

Split = Literal["val", "test"]
SPLITS: tuple[Split, Split] = ("val", "test")
ROUTES = ("rag", "adapter", "prompt", "abstain")
SMALL_TALK_PER_INTENT = 4
OUT_OF_SCOPE_SAMPLE = 50
DEMO_ADAPTER = "support-triage"
APOSTROPHES = {"'", "\u2019", "\u02bc"}
Row = TypeVar("Row")


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


def normalised(text: str) -> str:
    """The text two requests are compared by: lower case, apostrophes removed ("what's" is "whats"), other
    punctuation a space, spaces collapsed. ``"Thanks for your help!"`` is ``"thanks for your help"``."""
    kept = []
    for char in unicodedata.normalize("NFKC", text).casefold():
        if char in APOSTROPHES:
            continue
        kept.append(" " if unicodedata.category(char).startswith("P") else char)
    return " ".join("".join(kept).split())


def stable_order(text: str) -> str:
    """A key that orders texts the same way on every run and machine (unlike Python's salted ``hash``)."""
    return hashlib.sha256(normalised(text).encode("utf-8")).hexdigest()


def halves(rows: Iterable[Row], text: Callable[[Row], str], group: Callable[[Row], str]) -> dict[Split, list[Row]]:
    """Halve a sample file: distinct texts (the first row of each normalised text), ordered by group, then
    by :func:`stable_order`, go to ``val`` and ``test`` in turn. Each group (a document, a label) is split
    as evenly as it can be; rows with the same normalised text count once, so they cannot straddle."""
    by_text: dict[str, Row] = {}
    for row in rows:
        by_text.setdefault(normalised(text(row)), row)
    ordered = sorted(by_text.values(), key=lambda row: (group(row), stable_order(text(row))))
    return {"val": ordered[0::2], "test": ordered[1::2]}


def router_examples(samples: Path) -> set[str]:
    """The normalised texts the router has seen: its own small-talk and off-topic examples, and the demo
    adapter's route examples."""
    # Imported here: the gateway's client stack is slow to import, and most users of this module only
    # want default_eval_data.
    from tutorbook_gateway.route_examples import builtin_route_examples

    texts = [text for examples in builtin_route_examples().values() for text in examples]
    texts += demo_adapter_card(samples, base_model="").route_examples
    return {normalised(text) for text in texts}


def distinct(cases: Iterable[RoutingCase], excluded: Set[str]) -> list[RoutingCase]:
    """The cases whose normalised text is not excluded, each text once (its first case)."""
    seen = set(excluded)
    kept = []
    for case in cases:
        key = normalised(case.text)
        if key not in seen:
            seen.add(key)
            kept.append(case)
    return kept


def clinc_cases(clinc: Path, split: Split, seed: int, excluded: Set[str] = frozenset()) -> list[RoutingCase]:
    """4 queries of each small-talk intent and 50 out-of-scope queries of CLINC150's ``split``, sampled
    from those whose normalised text is not ``excluded`` nor (for ``test``) any CLINC150 ``val`` query."""
    data = json.loads((clinc / "data_full.json").read_text(encoding="utf-8"))
    small_talk_intents = set(json.loads((clinc / "domains.json").read_text(encoding="utf-8"))["small_talk"])
    unavailable = set(excluded)
    if split == "test":
        unavailable |= {normalised(text) for text, _ in data["val"] + data["oos_val"]}
    rng = random.Random(seed)
    by_intent: dict[str, list[RoutingCase]] = {}
    for text, intent in data[split]:
        if intent in small_talk_intents:
            by_intent.setdefault(intent, []).append(RoutingCase(text, "prompt", f"clinc150 {split} {intent}"))
    cases = []
    for intent in sorted(by_intent):
        pool = distinct(by_intent[intent], unavailable)
        cases += rng.sample(pool, SMALL_TALK_PER_INTENT)
    out_of_scope = [RoutingCase(text, "abstain", f"clinc150 oos_{split}") for text, _ in data[f"oos_{split}"]]
    out_of_scope = distinct(out_of_scope, unavailable)
    return cases + rng.sample(out_of_scope, min(OUT_OF_SCOPE_SAMPLE, len(out_of_scope)))


def sample_cases(samples: Path, split: Split) -> list[RoutingCase]:
    """The ``split`` half of each sample file (``rag``, ``adapter`` and ``abstain`` requests)."""
    questions = halves(read_jsonl(samples / "questions.jsonl"), lambda row: row["question"], lambda row: row["doc_id"])
    triage_rows = read_jsonl(samples / "support_triage" / "test.jsonl")
    triage = halves(triage_rows, lambda row: row["text"], lambda row: row["label"])
    oos = halves(read_jsonl(samples / "out_of_scope.jsonl"), lambda row: row["question"], lambda row: "")
    cases = [RoutingCase(row["question"], "rag", "samples/questions") for row in questions[split]]
    cases += [RoutingCase(row["text"], "adapter", "samples/support_triage/test") for row in triage[split]]
    return cases + [RoutingCase(row["question"], "abstain", "samples/out_of_scope") for row in oos[split]]


def unchecked_cases(samples: Path, clinc: Path, split: Split, seed: int, seen: Set[str]) -> list[RoutingCase]:
    """The requests of ``split`` whose normalised text is not in ``seen``, each once."""
    clinc_split = clinc_cases(clinc, split, seed, excluded=seen)
    samples_split = sample_cases(samples, split)
    # In the order the evaluation has always printed them: rag, adapter, CLINC150, the sample off-topic file.
    ordered = [case for case in samples_split if case.expected != "abstain"] + clinc_split
    return distinct(ordered + [case for case in samples_split if case.expected == "abstain"], seen)


def routing_cases(samples: Path, clinc: Path, split: Split, seed: int = 0) -> list[RoutingCase]:
    """The labelled requests of ``split``: none the router has seen, and none of ``test`` in ``val``."""
    seen = router_examples(samples)
    if split == "test":
        seen |= {normalised(case.text) for case in unchecked_cases(samples, clinc, "val", seed, seen)}
    return unchecked_cases(samples, clinc, split, seed, seen)


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
