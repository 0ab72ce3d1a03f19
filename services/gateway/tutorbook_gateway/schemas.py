"""Wire types of the gateway's HTTP API (the OpenAI chat completion request, as far as we read it)."""

from typing import Any

import msgspec

from tutorbook_grounding.policy import ClaimsPolicy


class ChatMessage(msgspec.Struct):
    role: str
    # A string, or OpenAI content parts: [{"type": "text", "text": "..."}].
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None


class StreamOptions(msgspec.Struct):
    include_usage: bool = False


class TutorbookOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The request body's optional ``tutorbook`` object (OpenAI SDK: ``extra_body={"tutorbook": {...}}``)."""

    route: str | None = None  # force a route: rag, adapter, adapter+rag, prompt or abstain
    session_id: str | None = None  # continue this conversation (or the x-tutorbook-session header)
    claims_policy: ClaimsPolicy | None = None  # flag, withhold or quote unsupported sentences (default: the setting)


class ChatCompletionRequest(msgspec.Struct, kw_only=True):
    model: str
    messages: list[ChatMessage]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    user: str | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = 1
    tutorbook: TutorbookOptions | None = None
