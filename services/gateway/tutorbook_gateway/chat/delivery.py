"""How an answer leaves: one ``chat.completion``, or server-sent ``chat.completion.chunk`` events. Both
read the same events from :func:`~tutorbook_gateway.chat.answering.answer_chat`.

A stream's first chunk carries the ``tutorbook`` decision; the chunk with the finish reason carries what
the answer added to it once it ended (the claim check: ``claims``, the citations with their quotes);
usage comes in a last chunk with no choices when the client asked for ``stream_options.include_usage``;
a failure after the first byte is an error event (the OpenAI SDKs raise it) and the end of the stream,
never ``[DONE]``: a client that reads the stream by hand must not take a cut answer for a whole one.
"""

from collections.abc import AsyncIterator
from typing import Any

from litestar import Response
from litestar.response import Stream

from tutorbook_gateway.chat.answer_cache import CACHE_HEADER
from tutorbook_gateway.chat.answering import AnswerEnd, AnswerStart, ChatEvent
from tutorbook_gateway.chat.completions import DONE_EVENT, chunk, completion, server_sent_event, usage_chunk
from tutorbook_gateway.chat.request import SESSION_HEADER
from tutorbook_gateway.schemas import StreamOptions
from tutorbook_service.errors import ServiceError, error_body

ROUTE_HEADER = "x-tutorbook-route"
ADAPTER_HEADER = "x-tutorbook-adapter"  # name@version: the version that answered (a rollout's canary, say)


async def delivered(
    events: AsyncIterator[ChatEvent], stream: bool, stream_options: StreamOptions | None
) -> Response[Any]:
    """The response: a stream of events, or one completion once every piece has come."""
    start = await first_event(events)
    if stream:
        include_usage = bool(stream_options and stream_options.include_usage)
        body = as_server_sent_events(start, events, include_usage)
        return Stream(
            body, media_type="text/event-stream", headers={**answer_headers(start), "cache-control": "no-cache"}
        )
    return Response(await as_completion(start, events), headers=answer_headers(start))


def answer_headers(start: AnswerStart) -> dict[str, str]:
    headers = {ROUTE_HEADER: start.route}
    adapter = start.tutorbook.get("adapter")
    if adapter:
        headers[ADAPTER_HEADER] = f"{adapter['name']}@{adapter['version']}"
    if start.cache_status is not None:
        headers[CACHE_HEADER] = start.cache_status
    if start.session_id is not None:
        headers[SESSION_HEADER] = start.session_id
    return headers


async def first_event(events: AsyncIterator[ChatEvent]) -> AnswerStart:
    """Everything that can be refused is refused here, while the answer can still be a plain HTTP error."""
    start = await anext(events)
    assert isinstance(start, AnswerStart)
    return start


async def as_completion(start: AnswerStart, events: AsyncIterator[ChatEvent]) -> dict[str, Any]:
    pieces: list[str] = []
    end = AnswerEnd(None, {})
    async for event in events:
        if isinstance(event, str):
            pieces.append(event)
        elif isinstance(event, AnswerEnd):
            end = event
    tutorbook = {**start.tutorbook, **end.tutorbook}
    return completion(start.response_id, start.model, "".join(pieces), end.finish_reason, end.usage, tutorbook)


async def as_server_sent_events(
    start: AnswerStart, events: AsyncIterator[ChatEvent], include_usage: bool
) -> AsyncIterator[bytes]:
    response_id, model = start.response_id, start.model
    usage_field = {"usage": None} if include_usage else {}
    first = chunk(response_id, model, {"role": "assistant", "content": ""})
    yield server_sent_event({**first, **usage_field, "tutorbook": start.tutorbook})
    try:
        async for event in events:
            if isinstance(event, str):
                yield server_sent_event({**chunk(response_id, model, {"content": event}), **usage_field})
            elif isinstance(event, AnswerEnd):
                last = {**chunk(response_id, model, {}, event.finish_reason), **usage_field}
                yield server_sent_event({**last, "tutorbook": event.tutorbook} if event.tutorbook else last)
                if include_usage:
                    yield server_sent_event(usage_chunk(response_id, model, event.usage))
    except ServiceError as exc:
        yield server_sent_event(error_body(exc.status_code, exc.message, exc.param, exc.code))
        return
    yield DONE_EVENT
