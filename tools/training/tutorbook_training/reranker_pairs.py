"""Training pairs for the reranker, mined from a corpus with no questions in it.

A section's heading is a short description of its text written by the documentation's authors, the
closest thing a corpus has to a question with a known answer. Each group is one heading (the question),
the text of the section under it (the positive) and the texts the first stage ranks highest for that
heading from other sections (the hard negatives: the close siblings a reranker has to tell apart). A
heading that more than one document uses ("Overview", "Troubleshooting") names no one section and is
skipped.
"""

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tutorbook_retriever.chunking import leaf_heading

NEGATIVES = 3
MIN_HEADING_WORDS = 2  # "Bluetooth" alone says little of which of its sections is meant


@dataclass(frozen=True)
class Section:
    doc_id: str
    heading: str  # the heading path, "Settings > Sound > Sound Mode"
    text: str  # the text under it, without the heading


@dataclass(frozen=True)
class RerankGroup:
    question: str
    positive: str
    negatives: tuple[str, ...]


FirstStage = Callable[[str], Sequence[Section]]


def heading_key(heading: str) -> str:
    """A heading's last part as words, lower-cased: "Sound > Sound Mode" is "sound mode"."""
    return " ".join(re.findall(r"\w+", leaf_heading(heading).lower()))


def unambiguous_sections(sections: Sequence[Section]) -> list[Section]:
    """The first section of each heading that only one document uses, with enough words to be a question."""
    documents: dict[str, set[str]] = {}
    for section in sections:
        documents.setdefault(heading_key(section.heading), set()).add(section.doc_id)
    seen: set[str] = set()
    kept = []
    for section in sections:
        key = heading_key(section.heading)
        if len(key.split()) >= MIN_HEADING_WORDS and len(documents[key]) == 1 and key not in seen:
            seen.add(key)
            kept.append(section)
    return kept


def mine_groups(
    sections: Sequence[Section], first_stage: FirstStage, max_groups: int, negatives: int = NEGATIVES, seed: int = 0
) -> list[RerankGroup]:
    """Up to ``max_groups`` groups (a seeded sample of the sections with an unambiguous heading)."""
    candidates = unambiguous_sections(sections)
    random.Random(seed).shuffle(candidates)
    groups: list[RerankGroup] = []
    for section in candidates:
        if len(groups) == max_groups:
            break
        key = heading_key(section.heading)
        question = leaf_heading(section.heading).strip()
        others = [hit.text for hit in first_stage(question) if heading_key(hit.heading) != key and hit.text]
        hard_negatives = list(dict.fromkeys(others))[:negatives]
        if len(hard_negatives) == negatives:
            groups.append(RerankGroup(question, section.text, tuple(hard_negatives)))
    return groups
