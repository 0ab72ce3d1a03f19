"""Streamed chat completions: server-sent events in the OpenAI chunk format, the router's decision included.

The first chunk carries the ``tutorbook`` decision block (the route is also in the response header).
Usage arrives in a last chunk with empty ``choices`` when the client asked for
``stream_options.include_usage``; the gateway always asks vLLM for it, for its own metrics.
"""

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from tutorbook_common.errors import ServiceError, error_body
from tutorbook_gateway.chat import ChatPlan
from tutorbook_gateway.clients.generator import ChunkStream
from tutorbook_gateway.prompting import abstain_answer

DONE = b"data: [DONE]\n\n"


@dataclass
class StreamReport:
    """What the stream observed (for metrics, the session and the cache): filled in as it runs."""

    first_token_seconds: float | None = None
    completion_tokens: int = 0
    finished: bool = False
    failed: bool = False
    completion_id: str = ""
    model: str = ""
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    parts: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(self.parts)

    def observe(self, item: dict[str, Any]) -> None:
        self.completion_id = self.completion_id or str(item.get("id", ""))
        self.model = self.model or str(item.get("model", ""))
        for choice in item.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if content:
                self.parts.append(content)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def chunk(completion_id: str, model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


@dataclass(frozen=True)
class LocalAnswer:
    """An answer complete before streaming starts (abstain, or a classifier's label): sent as chunks."""

    text: str
    usage: dict[str, Any] = field(
        default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    )


def local_chunks(
    plan: ChatPlan, model: str, answer: LocalAnswer, include_usage: bool, completion_id: str
) -> list[dict[str, Any]]:
    first = chunk(completion_id, model, {"role": "assistant", "content": ""})
    first["tutorbook"] = plan.tutorbook
    chunks = [
        first,
        chunk(completion_id, model, {"content": answer.text}),
        chunk(completion_id, model, {}, finish="stop"),
    ]
    if include_usage:
        chunks.append({**chunk(completion_id, model, {}), "choices": [], "usage": answer.usage})
    return chunks


def abstain_text(plan: ChatPlan) -> LocalAnswer:
    return LocalAnswer(abstain_answer(plan.decision.suggestions))


async def relay_chunks(
    upstream: ChunkStream,
    plan: ChatPlan,
    include_usage: bool,
    report: StreamReport,
    started: float,
    completion_id: str,
) -> AsyncIterator[bytes]:
    """vLLM's chunks as SSE, under the gateway's id: the decision added to the first, usage passed on only
    when asked for."""
    first = True
    try:
        async for item in upstream.chunks():
            item["id"] = completion_id
            usage = item.pop("usage", None)
            if usage:
                report.completion_tokens = int(usage.get("completion_tokens", 0))
                report.usage = usage
            report.observe(item)
            if not item.get("choices"):
                if include_usage and usage:
                    yield sse({**item, "usage": usage})
                continue
            if first:
                item["tutorbook"] = plan.tutorbook
                first = False
            if report.first_token_seconds is None and item["choices"][0].get("delta", {}).get("content"):
                report.first_token_seconds = time.perf_counter() - started
            if include_usage:
                item["usage"] = None
            yield sse(item)
        report.finished = True
    except ServiceError as exc:
        report.failed = True
        yield sse(error_body(exc.status_code, exc.message, exc.param, exc.code))
    finally:
        await upstream.aclose()
    yield DONE


async def stream_events(
    plan: ChatPlan,
    model: str,
    upstream: ChunkStream | LocalAnswer,
    include_usage: bool,
    on_end: Callable[[StreamReport], None],
    completion_id: str,
) -> AsyncIterator[bytes]:
    """The whole SSE body. ``on_end`` runs once, however the stream ends (done, failed, client gone)."""
    report = StreamReport()
    started = time.perf_counter()
    try:
        if isinstance(upstream, LocalAnswer):
            report.usage = upstream.usage
            for item in local_chunks(plan, model, upstream, include_usage, completion_id):
                report.observe(item)
                yield sse(item)
            report.finished = True
            yield DONE
            return
        async for event in relay_chunks(upstream, plan, include_usage, report, started, completion_id):
            yield event
    finally:
        on_end(report)
