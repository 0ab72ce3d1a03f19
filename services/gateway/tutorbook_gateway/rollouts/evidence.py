"""What live traffic says about a candidate, and what the rollout does about it (:func:`judge`).

Three kinds of event, each kept in a bounded list per rollout (:mod:`.board`):

- ``Served``: an answer by either version, to a user (the active version, or the candidate as the canary)
  or in the background (the candidate in shadow): whether it failed, its seconds, a classifier's
  confidence, and the claim check's count of claims and unsupported ones;
- ``Compared``: one request answered by both versions (the candidate in shadow, or the active version
  beside a canary answer): the same label or not, both confidences, and for text a word-overlap score;
- ``Rated``: a user's feedback on an answer, joined to the version by the response's adapter.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from tutorbook_gateway.rollouts.stats import percentile, wilson

Verdict = Literal["wait", "promote", "roll_back"]


class Served(msgspec.Struct, tag="served", kw_only=True):
    version: int
    failed: bool = False
    seconds: float = 0.0
    confidence: float | None = None
    claims: int = 0
    unsupported: int = 0
    shadow: bool = False
    tokens: int = 0  # prompt and generated, as vLLM counted them


class Compared(msgspec.Struct, tag="compared", kw_only=True):
    same: bool
    active_confidence: float | None = None
    candidate_confidence: float | None = None
    overlap: float | None = None  # text: word-overlap F1 of the two answers


class Rated(msgspec.Struct, tag="rated", kw_only=True):
    version: int
    helpful: bool


Event = Served | Compared | Rated


@dataclass
class VersionFigures:
    answers: int = 0
    failed: int = 0
    seconds: list[float] = field(default_factory=list)  # answers to users
    shadow_seconds: list[float] = field(default_factory=list)
    claims: int = 0
    unsupported: int = 0
    rated: int = 0
    unhelpful: int = 0
    tokens: int = 0
    checked: int = 0  # answers written from passages and checked claim by claim
    flagged: int = 0  # of those, the ones with an unsupported claim

    def add(self, event: Served) -> None:
        self.answers += 1
        self.tokens += event.tokens
        self.failed += event.failed
        if not event.failed:  # users' answers end to end; shadow answers, generation alone, apart
            (self.shadow_seconds if event.shadow else self.seconds).append(event.seconds)
        self.claims += event.claims
        self.unsupported += event.unsupported
        self.checked += event.claims > 0
        self.flagged += event.unsupported > 0

    def summary(self) -> dict[str, Any]:
        return {
            "answers": self.answers,
            "failed": self.failed,
            "error_rate_95": list(rounded(wilson(self.failed, self.answers))),
            "p95_seconds": percentile(self.seconds, 0.95),
            "shadow_p95_seconds": percentile(self.shadow_seconds, 0.95),
            "tokens_per_answer": round(self.tokens / self.answers, 1) if self.answers else None,
            "claims": self.claims,
            "unsupported": self.unsupported,
            "rated": self.rated,
            "unhelpful": self.unhelpful,
        }


@dataclass
class Evidence:
    active: VersionFigures = field(default_factory=VersionFigures)
    candidate: VersionFigures = field(default_factory=VersionFigures)
    compared: int = 0
    same: int = 0
    active_confidence: float = 0.0  # sums over compared requests
    weighted_confidence: float = 0.0  # the candidate's confidence where it agreed, 0 where it did not
    overlap: float = 0.0

    def summary(self) -> dict[str, Any]:
        compared = max(self.compared, 1)
        return {
            "active": self.active.summary(),
            "candidate": self.candidate.summary(),
            "compared": self.compared,
            "agreement": round(self.same / compared, 4) if self.compared else None,
            "agreement_95": list(rounded(wilson(self.same, self.compared))),
            "active_confidence": round(self.active_confidence / compared, 4) if self.compared else None,
            "agreement_weighted_confidence": round(self.weighted_confidence / compared, 4) if self.compared else None,
            "overlap": round(self.overlap / compared, 4) if self.compared else None,
        }


def rounded(pair: tuple[float, float]) -> tuple[float, float]:
    return round(pair[0], 4), round(pair[1], 4)


def gathered(events: Iterable[Event], candidate: int) -> Evidence:
    evidence = Evidence()
    for event in events:
        if isinstance(event, Served):
            (evidence.candidate if event.version == candidate else evidence.active).add(event)
        elif isinstance(event, Rated):
            figures = evidence.candidate if event.version == candidate else evidence.active
            figures.rated += 1
            figures.unhelpful += not event.helpful
        else:
            evidence.compared += 1
            evidence.same += event.same
            evidence.active_confidence += event.active_confidence or 0.0
            evidence.weighted_confidence += (event.candidate_confidence or 0.0) if event.same else 0.0
            evidence.overlap += event.overlap or 0.0
    return evidence
