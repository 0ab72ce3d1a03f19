"""Step 6's last part for answers written from passages (RAG, adapter+RAG): the runaway guard, then the
claim check, then the policy for unsupported sentences.

The answer leaves a sentence at a time through :class:`~tutorbook_grounding.sentences.RunawayGuard`
(a repeated sentence, or one past the budget, ends it: vLLM's request is closed). Once it has ended, its
sentences are checked against the passages' sentences with one retriever call (the embedder's cosines),
word overlap and the strict fact checks (:mod:`tutorbook_grounding.support`). Under ``flag`` the
sentences leave as they are generated and the claims follow in the last chunk; under ``withhold`` and
``quote`` the text waits for the check, since what leaves depends on it.
"""

import logging
import time
from dataclasses import dataclass
from typing import Any

from tutorbook_gateway.chat.claim_judging import ClaimJudge
from tutorbook_gateway.chat.config import ClaimCheckConfig
from tutorbook_gateway.clients.retriever import RetrieverClient
from tutorbook_grounding.policy import NOT_SURE, ClaimsPolicy, apply_policy, not_sure_answer
from tutorbook_grounding.prompt import Source, heading_of
from tutorbook_grounding.support import (
    Claim,
    Passage,
    candidates_of,
    claim_sentences,
)
from tutorbook_grounding.support import judge as judge_claims
from tutorbook_service.errors import ServiceError

log = logging.getLogger("tutorbook.claims")
CHECK_FIELDS = ("claims", "citations", "answer_check")  # what the check adds to an answer's tutorbook


@dataclass
class CheckOutcome:
    text: str  # what the answer says under the policy
    claims: list[Claim] | None  # None: the check could not run
    seconds: float
    error: str | None = None
    judge: dict[str, Any] | None = None  # what the judge model did (None: no judge)


async def check_answer(
    answer: str,
    sources: list[Source],
    retriever: RetrieverClient,
    config: ClaimCheckConfig,
    judge: ClaimJudge | None = None,
) -> CheckOutcome:
    """The answer's claims, and its text under the policy. When the retriever cannot score them, ``flag``
    keeps the answer unchecked and the other policies say "not sure": neither presents it as checked.
    A judge model, when one is set, has the last word on closeness (never on a contradicted fact)."""
    started = time.perf_counter()
    passages = [Passage(heading_of(source), source.text) for source in sources]
    sentences = claim_sentences(answer)
    candidates = candidates_of(passages, config.max_candidates)
    try:
        scores = await similarities(retriever, sentences, [c.text for c in candidates])
    except ServiceError as exc:
        log.warning("claim check failed", extra={"error": exc.message})
        text = answer if config.policy is ClaimsPolicy.FLAG else not_sure_answer([], passages)
        return CheckOutcome(text, None, time.perf_counter() - started, exc.message)
    claims = judge_claims(sentences, candidates, scores, passages, config.thresholds)
    judged = None if judge is None else await judge.review(claims, passages)
    if judged is not None:
        claims = judged.claims
    text = apply_policy(answer, claims, passages, config.policy)
    summary = None if judged is None else judged.summary
    return CheckOutcome(text, claims, time.perf_counter() - started, judge=summary)


async def similarities(retriever: RetrieverClient, sentences: list[str], candidates: list[str]) -> list[list[float]]:
    if not sentences:
        return []
    if not candidates:
        return [[] for _ in sentences]
    return await retriever.similarities(sentences, candidates)


def claims_block(
    outcome: CheckOutcome, config: ClaimCheckConfig, citations: list[dict[str, Any]], stopped: bool
) -> dict[str, Any]:
    """What the check adds to ``tutorbook``: the claims, each citation's quoted spans, and a summary."""
    claims = outcome.claims
    quoted = [dict(citation, quotes=[]) for citation in citations]
    for claim in claims or []:
        if claim.citation is not None and claim.quote and claim.quote not in quoted[claim.citation]["quotes"]:
            quoted[claim.citation]["quotes"].append(claim.quote)
    unsupported = sum(not claim.supported for claim in claims or [])
    summary = {
        "policy": config.policy.value,
        "checked": claims is not None,
        "claims": sum(not claim.hedge for claim in claims or []),
        "unsupported": unsupported,
        "withheld": 0 if config.policy is ClaimsPolicy.FLAG else unsupported,  # sentences dropped
        "not_sure": outcome.text.startswith(NOT_SURE),  # nothing supported was left to say
        "stopped_runaway": stopped,
        "seconds": round(outcome.seconds, 4),
        **({"error": outcome.error} if outcome.error else {}),
        **({"judge": outcome.judge} if outcome.judge is not None else {}),
    }
    shown = [claim.as_dict() for claim in claims or []]
    if config.policy is not ClaimsPolicy.FLAG:  # what was withheld is not sent beside the answer either
        shown = [claim if claim["supported"] else {**claim, "text": None} for claim in shown]
    return {
        "claims": None if claims is None else shown,
        "citations": quoted,
        "answer_check": summary,
    }
