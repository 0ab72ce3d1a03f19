"""The OpenAI shapes the gateway answers in: the chat completion, its chunks, server-sent events, and the
response id. Every answer (generated, streamed, cached, abstained) is built here and nowhere else.

A response id carries what feedback on the answer must name (route, adapter, model, time), signed with
the gateway's key, so no state is kept per answer and a made-up or altered id is refused.
"""

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from typing import Any

import msgspec

from tutorbook_gateway.state.feedback import ResponseRecord

RESPONSE_ID_PREFIX = "chatcmpl-"
DONE_EVENT = b"data: [DONE]\n\n"
SIGNATURE_BYTES = 12
NONCE_BYTES = 6


class SignedFields(msgspec.Struct, array_like=True, frozen=True):
    created: int
    nonce: str
    route: str
    model: str
    adapter: str | None
    team: str = ""  # trailing, with a default: ids minted before teams still read


def encoded(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decoded(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def response_record(tutorbook: dict[str, Any], model: str, team: str) -> ResponseRecord:
    adapter = tutorbook.get("adapter")
    return ResponseRecord(
        route=str(tutorbook.get("route", "")),
        adapter=None if not adapter else f"{adapter['name']}@{adapter['version']}",
        model=model,
        created=int(time.time()),
        team=team,
    )


class ResponseIds:
    """Mints response ids (one per answer: a cached answer served again gets a new one) and reads them back."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _signature(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:SIGNATURE_BYTES]

    def mint_answer(self, tutorbook: dict[str, Any], model: str, team: str) -> str:
        """The id of an answer given under this decision (``tutorbook``) by ``model`` to a key of ``team``."""
        return self.mint(response_record(tutorbook, model, team))

    def mint(self, record: ResponseRecord) -> str:
        fields = SignedFields(
            record.created, secrets.token_hex(NONCE_BYTES), record.route, record.model, record.adapter, record.team
        )
        payload = msgspec.json.encode(fields)
        return f"{RESPONSE_ID_PREFIX}{encoded(payload)}.{encoded(self._signature(payload))}"

    def read(self, response_id: str) -> ResponseRecord | None:
        """What the answer was, or None when the id is not one this gateway (or its replicas) minted."""
        body, _, signature = response_id.removeprefix(RESPONSE_ID_PREFIX).partition(".")
        try:
            payload, given = decoded(body), decoded(signature)
            if not hmac.compare_digest(given, self._signature(payload)):
                return None
            fields = msgspec.json.decode(payload, type=SignedFields)
        except (binascii.Error, ValueError, msgspec.DecodeError):
            return None
        return ResponseRecord(fields.route, fields.adapter, fields.model, fields.created, fields.team)


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
