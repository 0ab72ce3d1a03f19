"""What an answer says once its claims are checked: the three policies for unsupported sentences.

- ``flag``: every sentence stays; an unsupported one loses its citation marks (it must not look sourced)
  and is marked as not found in the sources.
- ``withhold``: unsupported sentences are dropped; when nothing supported is left, the answer says it is
  not sure and quotes the closest passages.
- ``quote``: the answer is the supporting passage sentences themselves, each cited.
"""

import enum
from collections.abc import Sequence

from tutorbook_grounding.sentences import cited_numbers, without_citations
from tutorbook_grounding.support import Claim, Passage

UNSUPPORTED_MARK = "(not found in the sources)"
NOT_SURE = "Not sure: the sources do not say this directly."
CLOSEST_QUOTES = 2


class ClaimsPolicy(enum.StrEnum):
    FLAG = "flag"
    WITHHOLD = "withhold"
    QUOTE = "quote"


def apply_policy(answer: str, claims: Sequence[Claim], passages: Sequence[Passage], policy: ClaimsPolicy) -> str:
    """The answer's text under the policy. A supported sentence cites the passage that supports it (a
    wrong or missing mark is corrected); the original text, formatting and all, stays when every claim is
    supported and cited as written."""
    if policy is ClaimsPolicy.QUOTE:
        return quoted_answer(claims, passages)
    if not claims:
        return answer if policy is ClaimsPolicy.FLAG else not_sure_answer(claims, passages)
    if all(claim.supported and cites_as_written(claim) for claim in claims):
        return answer
    if policy is ClaimsPolicy.FLAG:
        return " ".join(as_cited(claim) if claim.supported else flagged(claim.text) for claim in claims)
    kept = [claim for claim in claims if claim.supported]
    if not any(not claim.hedge for claim in kept):
        return not_sure_answer(claims, passages)
    return " ".join(as_cited(claim) for claim in kept)


def cites_as_written(claim: Claim) -> bool:
    return claim.citation is None or claim.citation + 1 in cited_numbers(claim.text)


def as_cited(claim: Claim) -> str:
    """The supported sentence citing the passage that supports it (its other marks removed)."""
    if claim.citation is None or cites_as_written(claim):
        return claim.text
    text = without_citations(claim.text)
    end = text[-1] if text and text[-1] in ".!?" else ""
    return f"{text.removesuffix(end)} {citation_mark(claim.citation)}{end}"


def flagged(sentence: str) -> str:
    text = without_citations(sentence)
    end = text[-1] if text and text[-1] in ".!?" else ""
    return f"{text.removesuffix(end)} {UNSUPPORTED_MARK}{end or '.'}"


def citation_mark(passage: int) -> str:
    return f"[{passage + 1}]"


def quoted_answer(claims: Sequence[Claim], passages: Sequence[Passage]) -> str:
    quotes: list[str] = []
    for claim in claims:
        if claim.supported and claim.quote is not None and claim.citation is not None:
            quote = f'"{claim.quote}" {citation_mark(claim.citation)}'
            if quote not in quotes:
                quotes.append(quote)
    return " ".join(quotes) if quotes else not_sure_answer(claims, passages)


def not_sure_answer(claims: Sequence[Claim], passages: Sequence[Passage]) -> str:
    """ "Not sure", with the passage sentences that came closest to the answer (else the first passage's
    opening sentence), so the reader can judge."""
    closest: list[str] = []
    for claim in claims:
        if claim.closest is not None:
            quote = f'"{claim.closest.text}" {citation_mark(claim.closest.passage)}'
            if quote not in closest:
                closest.append(quote)
    if not closest and passages:
        first = passages[0].text.strip().split("\n")[0]
        closest.append(f'"{first}" {citation_mark(0)}')
    if not closest:
        return NOT_SURE
    return f"{NOT_SURE} The closest passages: {' '.join(closest[:CLOSEST_QUOTES])}"
