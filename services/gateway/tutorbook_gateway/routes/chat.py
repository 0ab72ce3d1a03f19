"""``POST /v1/chat/completions``: the walk itself is in :mod:`tutorbook_gateway.chat.answering`."""

from typing import Any

from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler
from litestar.response import Stream

from tutorbook_gateway.auth import key_holder_of
from tutorbook_gateway.chat.answer_cache import CACHE_HEADER
from tutorbook_gateway.chat.answering import AnswerStart, ChatCall, answer_chat
from tutorbook_gateway.chat.delivery import as_completion, as_server_sent_events, first_event
from tutorbook_gateway.chat.validation import SESSION_HEADER
from tutorbook_gateway.schemas import ChatCompletionRequest

ROUTE_HEADER = "x-tutorbook-route"


async def chat_completions(data: ChatCompletionRequest, request: Request[Any, Any, Any]) -> Response[Any]:
    call = ChatCall(data, key_holder_of(request).fingerprint, request.headers.get(SESSION_HEADER))
    events = answer_chat(call, request.app.state.services)
    start = await first_event(events)
    if data.stream:
        include_usage = bool(data.stream_options and data.stream_options.include_usage)
        body = as_server_sent_events(start, events, include_usage)
        headers = {**answer_headers(start), "cache-control": "no-cache"}
        return Stream(body, media_type="text/event-stream", headers=headers)
    return Response(await as_completion(start, events), headers=answer_headers(start))


def answer_headers(start: AnswerStart) -> dict[str, str]:
    headers = {ROUTE_HEADER: start.route}
    if start.cache_status is not None:
        headers[CACHE_HEADER] = start.cache_status
    if start.session_id is not None:
        headers[SESSION_HEADER] = start.session_id
    return headers


def chat_route(max_body_bytes: int) -> HTTPRouteHandler:
    """The route, with its own body limit (far below the app's, which document batches need)."""
    return post("/v1/chat/completions", status_code=200, request_max_body_size=max_body_bytes)(chat_completions)
