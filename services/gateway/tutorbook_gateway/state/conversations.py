"""Conversations: the turns of a session, kept per API key with a TTL and trimmed to a token budget."""

import re

import msgspec

from tutorbook_gateway.state.backend import StateBackend
from tutorbook_service.errors import BadRequestError

SESSION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
CHARS_PER_TOKEN = 4  # a rough, tokenizer-free estimate: budgets are approximate by design
TURN_OVERHEAD_TOKENS = 4


class Turn(msgspec.Struct, frozen=True):
    role: str
    content: str


def validate_session_id(session_id: str) -> str:
    if not SESSION_ID.fullmatch(session_id):
        raise BadRequestError(
            "session_id must be 1-128 characters of letters, digits and ._:-", param="tutorbook.session_id"
        )
    return session_id


def estimated_tokens(turn: Turn) -> int:
    return len(turn.content) // CHARS_PER_TOKEN + TURN_OVERHEAD_TOKENS


def trim_to_budget(turns: list[Turn], max_tokens: int) -> list[Turn]:
    """The most recent turns that fit the budget, starting with a user turn."""
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns):
        used += estimated_tokens(turn)
        if used > max_tokens:
            break
        kept.append(turn)
    kept.reverse()
    while kept and kept[0].role != "user":
        kept.pop(0)
    return kept


TRUNCATED = " [...]"


def bounded_turn(turn: Turn, max_chars: int) -> Turn:
    """The turn as it is stored: its content cut to ``max_chars`` characters, marked where it was cut."""
    if len(turn.content) <= max_chars:
        return turn
    return Turn(turn.role, turn.content[: max(0, max_chars - len(TRUNCATED))] + TRUNCATED)


class Conversations:
    """A session keeps at most ``max_turns`` turns of at most ``max_turn_chars`` characters each, for
    ``ttl_seconds`` after its last turn; ``max_tokens`` of them are sent back to the model."""

    def __init__(
        self, backend: StateBackend, ttl_seconds: float, max_turns: int, max_tokens: int, max_turn_chars: int
    ) -> None:
        self._backend = backend
        self._ttl = ttl_seconds
        self._max_turns = max_turns
        self._max_tokens = max_tokens
        self._max_turn_chars = max_turn_chars

    @staticmethod
    def key(owner: str, session_id: str) -> str:
        return f"tb:session:{owner}:{session_id}"

    async def history(self, owner: str, session_id: str) -> list[Turn]:
        raw = await self._backend.items(self.key(owner, session_id), self._max_turns)
        turns = [msgspec.json.decode(item, type=Turn) for item in raw]
        return trim_to_budget(turns, self._max_tokens)

    async def record(self, owner: str, session_id: str, turns: list[Turn]) -> None:
        values = [msgspec.json.encode(bounded_turn(turn, self._max_turn_chars)) for turn in turns]
        await self._backend.push(self.key(owner, session_id), values, self._max_turns, self._ttl)
