"""Step 3 (and part of step 7) of answering: the conversation a request continues. Its stored turns are
put before the request's new ones; after the answer, the new turns and the answer are stored."""

from dataclasses import dataclass

import msgspec

from tutorbook_gateway.conversation import message_text
from tutorbook_gateway.metrics import GatewayMetrics
from tutorbook_gateway.schemas import ChatCompletionRequest, ChatMessage
from tutorbook_gateway.state.conversations import Conversations, Turn
from tutorbook_gateway.state.degrading import degraded

SYSTEM_ROLES = ("system", "developer")


@dataclass(frozen=True)
class Caller:
    owner: str  # the API key's fingerprint: sessions, limits and feedback are per key
    session_id: str | None


async def load_history(caller: Caller, conversations: Conversations, metrics: GatewayMetrics) -> list[Turn]:
    if caller.session_id is None:
        return []
    loaded = await degraded("sessions", conversations.history(caller.owner, caller.session_id), metrics)
    return loaded or []


def with_history(request: ChatCompletionRequest, history: list[Turn]) -> ChatCompletionRequest:
    """The request's system messages, then the stored turns, then the request's new turns."""
    if not history:
        return request
    system = [message for message in request.messages if message.role in SYSTEM_ROLES]
    turns = [message for message in request.messages if message.role not in SYSTEM_ROLES]
    earlier = [ChatMessage(turn.role, turn.content) for turn in history]
    return msgspec.structs.replace(request, messages=[*system, *earlier, *turns])


def new_turns(request: ChatCompletionRequest, answer_text: str) -> list[Turn]:
    """What a session keeps of one exchange: the request's user and assistant turns, then the answer."""
    asked = [
        Turn(message.role, message_text(message))
        for message in request.messages
        if message.role in ("user", "assistant")
    ]
    return [*asked, Turn("assistant", answer_text)]


async def record_turns(
    caller: Caller, turns: list[Turn], conversations: Conversations, metrics: GatewayMetrics
) -> None:
    """Awaited before the answer is returned: the next turn must see this one."""
    if caller.session_id is not None:
        await degraded("sessions", conversations.record(caller.owner, caller.session_id, turns), metrics)
