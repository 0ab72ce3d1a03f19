"""Step 3 (and part of step 7) of answering: the conversation a request continues. Its stored turns are
put between the request's system messages and its new turns; after the answer, the request's own turns and
the answer are stored (awaited: the next turn must see them). A store that is down means no history, not
a failure (:func:`~tutorbook_gateway.state.degrading.degraded`)."""

import dataclasses

from tutorbook_gateway.chat.request import SYSTEM_ROLES, ChatRequest
from tutorbook_gateway.metrics import GatewayMetrics
from tutorbook_gateway.state.conversations import Conversations, Turn
from tutorbook_gateway.state.degrading import degraded


async def continued(request: ChatRequest, conversations: Conversations, metrics: GatewayMetrics) -> ChatRequest:
    """The request with its session's earlier turns (itself when it names no session, or none are kept)."""
    if request.session_id is None:
        return request
    history = await degraded("sessions", conversations.history(request.owner, request.session_id), metrics)
    if not history:
        return request
    system = [turn for turn in request.messages if turn.role in SYSTEM_ROLES]
    rest = [turn for turn in request.messages if turn.role not in SYSTEM_ROLES]
    return dataclasses.replace(request, messages=(*system, *history, *rest))


async def record_turns(
    request: ChatRequest, answer_text: str, conversations: Conversations, metrics: GatewayMetrics
) -> None:
    """What a session keeps of one exchange: the request's user and assistant turns, then the answer."""
    if request.session_id is not None:
        turns = [*request.own_turns, Turn("assistant", answer_text)]
        await degraded("sessions", conversations.record(request.owner, request.session_id, turns), metrics)
