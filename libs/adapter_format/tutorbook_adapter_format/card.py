"""The adapter card (``tutorbook.json``) and the classifier prompt: shared by training and serving.

Only ``name``, ``base_model`` and ``task_type`` are required, so an adapter trained elsewhere can be
uploaded with a hand-written card. A classifier adapter's answer is one of its labels, or, when the card
has ``label_codes``, the code of one: a single token each, so that one decoding step scores every label
at once (the prompt it is trained and served with: :mod:`tutorbook_adapter_format.classification`).
"""

import re
from typing import Any, Literal

import msgspec

from tutorbook_adapter_format.checked_json import decode_checked

CARD_FILE = "tutorbook.json"
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
MAX_LABELS = 200
MAX_LABEL_CHARS = 100
MAX_ROUTE_EXAMPLES = 500
MAX_ROUTE_EXAMPLE_CHARS = 2000
MAX_CODE_CHARS = 8
MAX_TEAMS = 50  # team names follow the same rule as adapter names (tutorbook_service.teams.TEAM_NAME)
MAX_CODED_LABELS = 128  # vLLM returns at most 128 log-probabilities by token id (logprob_token_ids)

TaskType = Literal["generative", "classifier"]
# "lora": a LoRA adapter vLLM serves; "embedding_classifier": a linear classifier on the retriever's
# embeddings that the gateway serves itself (tutorbook_adapter_format.embedding_classifier). For the latter,
# base_model names the embedder.
TutorKind = Literal["lora", "embedding_classifier"]


class AdapterCard(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    base_model: str
    task_type: TaskType
    kind: TutorKind = "lora"
    version: int | None = None  # assigned by the store on upload; a card's own value is informative
    labels: list[str] = msgspec.field(default_factory=list)
    # A classifier trained to answer with a code per label (labels[i] is answered as label_codes[i]).
    label_codes: list[str] = msgspec.field(default_factory=list)
    route_examples: list[str] = msgspec.field(default_factory=list)
    wants_context: bool = False
    # The teams whose keys may use it (and whose requests the router may send to it); empty: every team.
    teams: list[str] = msgspec.field(default_factory=list)
    training_data_sha256: str | None = None
    eval: dict[str, Any] = msgspec.field(default_factory=dict)


class CardError(ValueError):
    """The card breaks its schema; the message says where."""


def card_problems(card: AdapterCard) -> list[str]:
    """Every rule the schema's types cannot express, as readable problems (empty: the card is fine)."""
    problems = []
    if not NAME_PATTERN.fullmatch(card.name):
        problems.append(
            "name must be 1-63 characters of lowercase letters, digits and '-', starting with a letter or digit"
        )
    if card.task_type == "classifier":
        if len(card.labels) < 2:
            problems.append("a classifier card needs at least two labels")
        if len(set(card.labels)) != len(card.labels):
            problems.append("labels must be distinct")
    elif card.labels:
        problems.append("labels are only for task_type 'classifier'")
    problems += code_problems(card)
    if len(card.teams) > MAX_TEAMS or any(not NAME_PATTERN.fullmatch(team) or team == "public" for team in card.teams):
        problems.append(f"teams: at most {MAX_TEAMS} team names (lowercase letters, digits and '-')")
    if card.kind == "embedding_classifier" and card.task_type != "classifier":
        problems.append("an embedding_classifier's task_type is 'classifier'")
    if len(card.labels) > MAX_LABELS or any(not label.strip() or len(label) > MAX_LABEL_CHARS for label in card.labels):
        problems.append(f"at most {MAX_LABELS} labels of 1-{MAX_LABEL_CHARS} characters")
    if len(card.route_examples) > MAX_ROUTE_EXAMPLES or any(
        not example.strip() or len(example) > MAX_ROUTE_EXAMPLE_CHARS for example in card.route_examples
    ):
        problems.append(f"at most {MAX_ROUTE_EXAMPLES} route_examples of 1-{MAX_ROUTE_EXAMPLE_CHARS} characters")
    return problems


def code_problems(card: AdapterCard) -> list[str]:
    if not card.label_codes:
        return []
    if card.kind != "lora" or len(card.label_codes) != len(card.labels):
        return ["label_codes are for a LoRA classifier: one code per label, in the labels' order"]
    if len(card.label_codes) > MAX_CODED_LABELS:
        return [f"at most {MAX_CODED_LABELS} labels answer by code (one decoding step scores that many)"]
    if len(set(card.label_codes)) != len(card.label_codes):
        return ["label_codes must be distinct"]
    if any(not code.strip() or code != code.strip() or len(code) > MAX_CODE_CHARS for code in card.label_codes):
        return [f"each label code is 1-{MAX_CODE_CHARS} characters, with no space around it"]
    return []


def parse_card(raw: bytes) -> AdapterCard:
    return decode_checked(raw, AdapterCard, CARD_FILE, card_problems, CardError)


def encode_card(card: AdapterCard) -> bytes:
    return msgspec.json.format(msgspec.json.encode(card), indent=2) + b"\n"


def normalise_label(text: str) -> str:
    return text.strip().strip(".").strip().lower()


def closest_label(answer: str, labels: list[str]) -> str:
    """The label an answer names: exact, else the one it starts with, else the longest shared prefix."""
    wanted = normalise_label(answer)
    by_text = {normalise_label(label): label for label in labels}
    if wanted in by_text:
        return by_text[wanted]
    starts = [label for label in labels if wanted.startswith(normalise_label(label))]
    if starts:
        return max(starts, key=len)

    def shared(label: str) -> int:
        size = 0
        for a, b in zip(wanted, normalise_label(label), strict=False):
            if a != b:
                break
            size += 1
        return size

    return max(labels, key=shared)
