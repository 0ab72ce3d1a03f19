"""``POST /v1/chat/completions``: the walk itself is in :mod:`tutorbook_gateway.chat.answering`."""

from typing import Any

from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler

from tutorbook_gateway.access.model import Scope
from tutorbook_gateway.auth import caller_of, require_scope
from tutorbook_gateway.chat.answering import answer_chat
from tutorbook_gateway.chat.delivery import delivered
from tutorbook_gateway.chat.request import SESSION_HEADER, ChatCall
from tutorbook_gateway.schemas import ChatCompletionRequest
from tutorbook_gateway.services import Chat


async def chat_completions(data: ChatCompletionRequest, request: Request[Any, Any, Any], chat: Chat) -> Response[Any]:
    call = ChatCall(data, caller_of(request), request.headers.get(SESSION_HEADER))
    return await delivered(answer_chat(call, chat), data.stream, data.stream_options)


def chat_route(max_body_bytes: int) -> HTTPRouteHandler:
    """The route, with its own body limit (far below the app's, which document batches need)."""
    chat = post("/v1/chat/completions", status_code=200, request_max_body_size=max_body_bytes,
                guards=[require_scope(Scope.CHAT)])  # fmt: skip
    return chat(chat_completions)
