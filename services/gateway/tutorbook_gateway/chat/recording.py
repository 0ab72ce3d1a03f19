"""Step 7 of answering: what is kept of an answer. The session's turns (awaited: the next turn must see
them) and the cache entry (off the response's path). The tokens it used are settled by the admission
(:mod:`.admission`). The answer's signed id carries what feedback names, except how the claim check found
it (known only at the end): that is kept beside the id for as long as feedback may come."""

import time
from dataclasses import dataclass
from typing import Any

from tutorbook_gateway.chat.answer_cache import CacheLookup
from tutorbook_gateway.chat.completions import completion
from tutorbook_gateway.chat.sessions import Caller, new_turns, record_turns
from tutorbook_gateway.schemas import ChatCompletionRequest
from tutorbook_gateway.services import GatewayServices
from tutorbook_gateway.state.degrading import degraded
from tutorbook_gateway.state.feedback import ClaimsOutcome, ResponseRecord


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


def response_record(tutorbook: dict[str, Any], model: str) -> ResponseRecord:
    adapter = tutorbook.get("adapter")
    return ResponseRecord(
        route=str(tutorbook.get("route", "")),
        adapter=None if not adapter else f"{adapter['name']}@{adapter['version']}",
        model=model,
        created=int(time.time()),
    )


async def record_answer(
    answered: Answered,
    caller: Caller,
    request: ChatCompletionRequest,
    lookup: CacheLookup,
    services: GatewayServices,
) -> None:
    state = services.state
    await record_turns(caller, new_turns(request, answered.text), state.conversations, services.metrics)
    whole = completion(
        answered.response_id,
        answered.model,
        answered.text,
        answered.finish_reason,
        answered.usage,
        answered.tutorbook,
    )
    services.answers.store(lookup, whole, answered.index_version)
    outcome = claims_outcome(answered.tutorbook)
    if outcome is not None and state.feedback is not None:
        await degraded("feedback", state.feedback.remember_claims(answered.response_id, outcome), services.metrics)


def claims_outcome(tutorbook: dict[str, Any]) -> ClaimsOutcome | None:
    """supported, unsupported (flagged) or withheld; None for an answer the claim check did not see."""
    check = tutorbook.get("answer_check")
    if not check or not check.get("checked"):
        return None
    if check.get("withheld") or check.get("not_sure"):
        return "withheld"
    return "unsupported" if check.get("unsupported") else "supported"
