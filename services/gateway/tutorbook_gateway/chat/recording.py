"""Step 7 of answering: what is kept of an answer. The session's turns (the request's user and assistant
turns, then the answer; awaited: the next turn must see them) and the cache entry (off the response's path).
The tokens it used are settled by the admission (:mod:`.admission`). The answer's signed id carries what
feedback names, except how the claim check found it (known only at the end): that is kept beside the id
for as long as feedback may come."""

from dataclasses import dataclass
from typing import Any, Protocol

from tutorbook_gateway.chat.answer_cache import AnswerCache, CacheLookup
from tutorbook_gateway.chat.completions import completion
from tutorbook_gateway.chat.request import ChatRequest, ConversationStore
from tutorbook_gateway.state.budget import BudgetOwner
from tutorbook_gateway.state.conversations import Turn
from tutorbook_gateway.state.feedback import ClaimsOutcome


class ClaimsOutcomes(Protocol):
    """Kept beside each answer's id for its feedback (:class:`~tutorbook_gateway.state.degrading.
    DegradingClaimsOutcomes`: never fails a request)."""

    async def remember_claims(self, response_id: str, outcome: ClaimsOutcome) -> None: ...


class KeptBytes(Protocol):
    """A key's and its team's byte budgets for kept state (:class:`~tutorbook_gateway.state.budget.
    StateBudget`)."""

    async def check(self, who: BudgetOwner) -> None: ...

    async def keep(
        self, who: BudgetOwner, *parts: str | bytes, kept_seconds: float = 0.0, only_within: bool = False
    ) -> bool: ...


@dataclass(frozen=True)
class Keeping:
    """Where step 7 keeps an answer, and what it may keep (a key's and its team's byte budgets)."""

    conversations: ConversationStore
    answers: AnswerCache
    claims: ClaimsOutcomes | None  # None: feedback is switched off
    budget: KeptBytes
    claims_seconds: float = 0.0  # how long a claim record is kept


def budget_owner(request: ChatRequest) -> BudgetOwner:
    return BudgetOwner(request.caller.owner, request.caller.team)


@dataclass(frozen=True)
class Answered:
    """One finished answer, as it is kept."""

    response_id: str
    model: str
    text: str
    finish_reason: str | None
    usage: dict[str, Any]
    tutorbook: dict[str, Any]
    index_version: int | None


async def record_answer(answered: Answered, request: ChatRequest, lookup: CacheLookup, keeping: Keeping) -> None:
    who = budget_owner(request)
    if request.session_id is not None:  # awaited: the next turn must see this one
        turns = [*request.own_turns, Turn("assistant", answered.text)]
        await keeping.conversations.record(request.owner, request.session_id, turns)
        await keeping.budget.keep(who, request.session_id, *(turn.content for turn in turns))
    whole = completion(
        answered.response_id,
        answered.model,
        answered.text,
        answered.finish_reason,
        answered.usage,
        answered.tutorbook,
    )
    keeping.answers.store(lookup, whole, answered.index_version)
    outcome = claims_outcome(answered.tutorbook)
    if outcome is None or keeping.claims is None:
        return
    kept_seconds = keeping.claims_seconds
    if await keeping.budget.keep(who, answered.response_id, outcome, kept_seconds=kept_seconds, only_within=True):
        await keeping.claims.remember_claims(answered.response_id, outcome)


def claims_outcome(tutorbook: dict[str, Any]) -> ClaimsOutcome | None:
    """supported, unsupported (flagged) or withheld; None for an answer the claim check did not see."""
    check = tutorbook.get("answer_check")
    if not check or not check.get("checked"):
        return None
    if check.get("withheld") or check.get("not_sure"):
        return "withheld"
    return "unsupported" if check.get("unsupported") else "supported"
