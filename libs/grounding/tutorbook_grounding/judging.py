"""A second opinion on the claim check, from a model that judges: asked through vLLM whether a passage
supports a sentence, and read from the log-probabilities of "Yes" and "No" as its whole answer.

The judge decides only what the embedder and the word overlap decide (is the passage close enough to say
this?); the strict checks keep their veto. So it may withdraw the support of a claim the check found
supported, and it may support a claim no passage sentence came close to, when the closest passage states
every number and code of it with the same polarity. It never supports a claim whose numbers, codes or
polarity a close passage sentence contradicts. Off unless a judging model is set
(``TUTORBOOK_GATEWAY_CLAIMS__JUDGE_MODEL``; docs/answers.md).
"""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from tutorbook_grounding.sentences import without_citations
from tutorbook_grounding.support import NOT_CLOSE, Candidate, Claim, Passage, disagreement

YES, NO = "Yes", "No"
OVERRULED = "the judge finds"  # how the reason of a claim the judge overruled begins
JUDGE_SYSTEM = (
    "You check whether a passage from a product's documentation supports a statement. "
    "Answer Yes if the passage states it, No otherwise."
)


@dataclass(frozen=True)
class JudgeQuestion:
    """Whether passage ``passage`` supports claim ``claim`` (both indices)."""

    claim: int
    passage: int


def judge_questions(claims: Sequence[Claim], passages: Sequence[Passage]) -> list[JudgeQuestion]:
    """The claims a judge may change: supported ones (about their citation), and those no passage sentence
    was close to (about the closest one's passage) when that sentence states their facts with the same
    polarity. A hedge, or a fact a passage contradicts, is settled. So the judge's probability alone
    decides every claim it is asked about."""
    asked = []
    for index, claim in enumerate(claims):
        if claim.hedge:
            continue
        if claim.supported and claim.citation is not None:
            asked.append(JudgeQuestion(index, claim.citation))
        elif not claim.supported and claim.reason == NOT_CLOSE and claim.closest is not None:
            closest = claim.closest
            if disagreement(claim.text, closest, passages[closest.passage]) is None:
                asked.append(JudgeQuestion(index, closest.passage))
    return asked


def judge_messages(sentence: str, passage: Passage, max_chars: int) -> list[dict[str, str]]:
    """The chat the judge answers "Yes" or "No" to."""
    text = passage.text[:max_chars]
    statement = without_citations(sentence).strip()
    question = (
        f"Passage ({passage.heading}):\n{text}\n\nStatement: {statement}\n\n"
        f"Does the passage support the statement? Answer {YES} or {NO}."
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": question}]


def overrule(claim: Claim, question: JudgeQuestion, supported: float, min_probability: float) -> Claim:
    """The claim after the judge's probability that the passage supports it (over "Yes" and "No")."""
    supported = round(supported, 4)  # as recorded: a replay compares the same number
    judged = dataclasses.replace(claim, judged=supported)
    where = f"[{question.passage + 1}]"
    if claim.supported and supported < min_probability:
        closest = None if claim.quote is None else Candidate(question.passage, claim.quote)
        return dataclasses.replace(
            judged, supported=False, citation=None, quote=None, closest=closest,
            reason=f"{OVERRULED} {where} does not support it (P {supported:.2f}); {claim.reason}",
        )  # fmt: skip
    if not claim.supported and supported >= min_probability and claim.closest is not None:
        return dataclasses.replace(
            judged, supported=True, citation=question.passage, quote=claim.closest.text, closest=None,
            reason=f"{OVERRULED} {where} supports it (P {supported:.2f})",
        )  # fmt: skip
    return judged


def supported_at(claim: Claim, min_probability: float | None) -> bool:
    """Whether a recorded claim would be supported with the judge at ``min_probability`` (None: with no
    judge): the probability alone decides a claim the judge was asked about."""
    if min_probability is None:
        overruled = claim.judged is not None and claim.reason.startswith(OVERRULED)
        return claim.supported != overruled
    return claim.supported if claim.judged is None else claim.judged >= min_probability


def claims_at(claims: Sequence[Claim], min_probability: float | None) -> list[Claim]:
    """Recorded claims as the judge at ``min_probability`` (None: no judge) would have left them."""
    replayed = []
    for claim in claims:
        supported = supported_at(claim, min_probability)
        if supported == claim.supported:
            replayed.append(claim)
        elif supported and claim.closest is not None:
            replayed.append(dataclasses.replace(claim, supported=True, citation=claim.closest.passage,
                                                quote=claim.closest.text, closest=None))  # fmt: skip
        elif claim.citation is not None and claim.quote is not None:
            closest = Candidate(claim.citation, claim.quote)
            replayed.append(dataclasses.replace(claim, supported=False, citation=None, quote=None, closest=closest))
        else:
            replayed.append(dataclasses.replace(claim, supported=supported))
    return replayed
