"""Whether each sentence of an answer is supported by a sentence of its passages.

A sentence is supported by a passage sentence when the two mean the same thing (the embedder's cosine)
or share most of the sentence's content words, **and** every number, unit and code in the sentence is
stated by that passage, **and** the two agree on negation. Sentences that only say the answer is not
known ("not sure", "the sources do not say") are hedges, not claims.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tutorbook_grounding.facts import codes, missing_facts, negated, quantities
from tutorbook_grounding.sentences import split_sentences, without_citations, words

STOPWORDS_TEXT = """a an the and or but if then of to in on at by for with from as is are was were be been being
it its this that these those you your yours we our i me my he she they them their there here do does did can could
will would should may might must has have had not no yes so than too very just also about into over under up down
out more most some any all each other such only own same what which who whom how when where why please"""
STOPWORDS = frozenset(STOPWORDS_TEXT.split())
# A sentence about the sources or the answer's own certainty, not about the product: it opens by saying
# so ("I'm not sure", "Sorry, I cannot find ...") or says the sources are silent. ("It does not cover drops"
# is a claim about the product, and so is "If you can't find the button, hold it for 10 s".)
HEDGE = re.compile(
    r"^\W*(?:sorry\W+)?(?:(?:i am|i'm|i)\s+(?:not sure|don't know|do not know|cannot find|can't find)|not sure|"
    r"no information)|need more context|"
    r"(sources?|passages?|manual|documentation|context) (do|does) not "
    r"(say|mention|contain|include|provide|specify|cover)|"
    r"not (mentioned|specified|stated|covered) in the (sources?|passages?|manual|documentation|context)",
    re.IGNORECASE,
)
NOT_CLOSE = "no passage sentence is close to it"


@dataclass(frozen=True)
class SupportThresholds:
    min_similarity: float = 0.6  # cosine of the sentence and the passage sentence
    min_overlap: float = 0.6  # share of the sentence's content words in the passage sentence (or its heading)
    # Only passage sentences this close to the closest one (cosine plus overlap) may support it: otherwise
    # "X does not cover drops" finds some other negative sentence to agree with, past the one that says it does.
    runner_up_margin: float = 0.15


@dataclass(frozen=True)
class Passage:
    heading: str  # title > section: a product's name is often only there
    text: str


@dataclass(frozen=True)
class Candidate:
    """One sentence of one passage: what an answer sentence may be supported by."""

    passage: int  # index into the passages (0: the first, cited as [1])
    text: str


@dataclass(frozen=True)
class Claim:
    text: str
    supported: bool
    citation: int | None  # the passage that supports it (0-based); None when unsupported or a hedge
    quote: str | None  # the supporting passage sentence
    reason: str
    hedge: bool = False
    closest: Candidate | None = None  # for an unsupported claim: what came nearest
    judged: float | None = None  # the judge model's probability that its passage supports it (None: not asked)

    def as_dict(self) -> dict[str, Any]:
        closest = None if self.closest is None else {"citation": self.closest.passage, "quote": self.closest.text}
        return {"text": self.text, "supported": self.supported, "citation": self.citation, "quote": self.quote,
                "reason": self.reason, "hedge": self.hedge, "closest": closest, "judged": self.judged}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Claim":
        """A claim as an answer's ``tutorbook.claims`` carried it (the evaluation re-applies policies to it)."""
        closest = data.get("closest")
        return cls(
            data["text"], bool(data["supported"]), data.get("citation"), data.get("quote"), data.get("reason", ""),
            bool(data.get("hedge")), None if not closest else Candidate(int(closest["citation"]), closest["quote"]),
            data.get("judged"),
        )  # fmt: skip


def claim_sentences(answer: str) -> list[str]:
    """The answer's sentences to check; one without content words ("No.", "Yes, it does.") is read with
    the sentence after it."""
    merged: list[str] = []
    carry = ""
    for sentence in split_sentences(answer):
        joined = f"{carry} {sentence}".strip()
        if not content_words(joined):
            carry = joined
            continue
        merged.append(joined)
        carry = ""
    if carry and merged and not content_words(carry):
        merged[-1] = f"{merged[-1]} {carry}"  # a closing "Yes." or "That's it." belongs to the answer's end
    elif carry:
        merged.append(carry)
    return merged


def candidates_of(passages: Sequence[Passage], limit: int) -> list[Candidate]:
    """The passages' sentences, the first passages first, at most ``limit`` in all."""
    found = [
        Candidate(index, sentence)
        for index, passage in enumerate(passages)
        for sentence in split_sentences(passage.text)
    ]
    return found[:limit]


def content_words(text: str) -> set[str]:
    return {word for word in words(without_citations(text)) if word not in STOPWORDS}


def candidate_words(candidate: Candidate, passages: Sequence[Passage]) -> set[str]:
    """What a candidate states, for the overlap: its content words and its passage heading's."""
    return content_words(candidate.text) | content_words(passages[candidate.passage].heading)


def overlap(wanted: set[str], found: set[str]) -> float:
    """The share of a sentence's content words (``wanted``) that a candidate states."""
    return len(wanted & found) / len(wanted) if wanted else 0.0


def judge(
    sentences: Sequence[str],
    candidates: Sequence[Candidate],
    similarities: Sequence[Sequence[float]],
    passages: Sequence[Passage],
    thresholds: SupportThresholds,
) -> list[Claim]:
    """A claim for each sentence; ``similarities[i][j]`` is sentence i's cosine with candidate j."""
    stated = [candidate_words(candidate, passages) for candidate in candidates]  # once, not once per sentence
    return [
        judge_one(sentence, candidates, scores, stated, passages, thresholds)
        for sentence, scores in zip(sentences, similarities, strict=True)
    ]


def judge_one(
    sentence: str,
    candidates: Sequence[Candidate],
    similarities: Sequence[float],
    stated: Sequence[set[str]],
    passages: Sequence[Passage],
    thresholds: SupportThresholds,
) -> Claim:
    """The best candidate that is close enough and states the sentence's facts with the same polarity."""
    if is_hedge(sentence):
        return Claim(sentence, True, None, None, "says the answer is not known", hedge=True)
    wanted = content_words(sentence)
    scored = sorted(
        ((similarity, overlap(wanted, words), candidate)
         for similarity, words, candidate in zip(similarities, stated, candidates, strict=True)),
        key=lambda item: -(item[0] + item[1]),
    )  # fmt: skip
    failures: list[str] = []  # why each close candidate did not support it, the closest first
    best = scored[0][0] + scored[0][1] if scored else 0.0
    for similarity, shared, candidate in scored:
        if similarity + shared < best - thresholds.runner_up_margin:
            break  # a sentence far behind the closest one does not get to support it
        if similarity < thresholds.min_similarity and shared < thresholds.min_overlap:
            continue
        failure = disagreement(sentence, candidate, passages[candidate.passage])
        if failure:
            failures.append(failure)
            continue
        how = f"cosine {similarity:.2f}, {shared:.0%} of its words"
        return Claim(
            sentence, True, candidate.passage, candidate.text, f"supported by [{candidate.passage + 1}] ({how})"
        )
    reason = failures[0] if failures else NOT_CLOSE
    closest = scored[0][2] if scored else None
    return Claim(sentence, False, None, None, reason, closest=closest)


def disagreement(sentence: str, candidate: Candidate, passage: Passage) -> str | None:
    """Why a close passage sentence still does not support the sentence: a fact it does not state, or the
    opposite polarity; None when it supports it."""
    missing = missing_facts(sentence, f"{passage.heading}\n{passage.text}")
    if missing:
        return f"passage [{candidate.passage + 1}] does not state {', '.join(missing)}"
    if negated(without_citations(sentence)) != negated(candidate.text):
        return f"passage [{candidate.passage + 1}] says the opposite"
    return None


def is_hedge(sentence: str) -> bool:
    """A hedge states no fact: a sentence with a number or a code in it is checked whatever it opens with."""
    text = without_citations(sentence)
    return HEDGE.search(text) is not None and not quantities(text) and not codes(text)
