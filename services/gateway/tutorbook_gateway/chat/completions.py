"""The OpenAI shapes the gateway answers in: the chat completion, its chunks, server-sent events, and the
response id. Every answer (generated, streamed, cached, abstained) is built here and nowhere else."""

import time
import uuid
from typing import Any

import msgspec

RESPONSE_ID_PREFIX = "chatcmpl-"
DONE_EVENT = b"data: [DONE]\n\n"


def new_response_id() -> str:
    """The id of one answer: feedback names it, and a cached answer served again gets a new one."""
    return f"{RESPONSE_ID_PREFIX}{uuid.uuid4().hex}"


def no_usage() -> dict[str, int]:
    """What an answer the gateway wrote itself (abstain) cost: nothing was generated."""
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def completion(
    response_id: str,
    model: str,
    text: str,
    finish_reason: str | None,
    usage: dict[str, Any],
    tutorbook: dict[str, Any],
) -> dict[str, Any]:
    """A whole ``chat.completion``, with the router's decision in ``tutorbook``."""
    message = {"role": "assistant", "content": text}
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
        "usage": usage,
        "tutorbook": tutorbook,
    }


def completion_text(answer: dict[str, Any]) -> str:
    """The answer's text: the first choice's message content."""
    return str(answer["choices"][0]["message"].get("content") or "")


def chunk(response_id: str, model: str, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    """One ``chat.completion.chunk`` with a single choice."""
    return {
        "id": response_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }


def usage_chunk(response_id: str, model: str, usage: dict[str, Any]) -> dict[str, Any]:
    """The last chunk of a stream whose client asked for ``stream_options.include_usage``: no choices."""
    return {**chunk(response_id, model, {}), "choices": [], "usage": usage}


def server_sent_event(payload: dict[str, Any]) -> bytes:
    return b"data: " + msgspec.json.encode(payload) + b"\n\n"
