"""Conversations: the turns of a session, kept per API key with a TTL and trimmed to a token budget."""

import re

import msgspec

from tutorbook_common.errors import BadRequestError
from tutorbook_gateway.state.backend import StateBackend

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


class Conversations:
    def __init__(self, backend: StateBackend, ttl_seconds: float, max_turns: int, max_tokens: int) -> None:
        self._backend = backend
        self._ttl = ttl_seconds
        self._max_turns = max_turns
        self._max_tokens = max_tokens

    @staticmethod
    def key(owner: str, session_id: str) -> str:
        return f"tb:session:{owner}:{session_id}"

    async def history(self, owner: str, session_id: str) -> list[Turn]:
        raw = await self._backend.items(self.key(owner, session_id), self._max_turns)
        turns = [msgspec.json.decode(item, type=Turn) for item in raw]
        return trim_to_budget(turns, self._max_tokens)

    async def record(self, owner: str, session_id: str, turns: list[Turn]) -> None:
        values = [msgspec.json.encode(turn) for turn in turns]
        await self._backend.push(self.key(owner, session_id), values, self._max_turns, self._ttl)
