"""Step 1 of answering: refuse a malformed request before anything is read or stored, so that the same
request gets the same 4xx whether or not an answer to it is cached."""

from dataclasses import dataclass

from tutorbook_gateway.conversation import message_text
from tutorbook_gateway.schemas import ChatCompletionRequest
from tutorbook_gateway.state.conversations import validate_session_id
from tutorbook_service.errors import BadRequestError, PayloadTooLargeError

ROLES = {"system", "user", "assistant", "developer", "tool"}
MAX_MESSAGES = 200
SESSION_HEADER = "x-tutorbook-session"


@dataclass(frozen=True)
class ChatLimits:
    """How much one request may ask of the gateway (settings: max_tokens_limit, max_message_chars,
    max_request_chars)."""

    max_tokens: int
    max_message_chars: int
    max_request_chars: int


def validate_size(request: ChatCompletionRequest, limits: ChatLimits) -> None:
    total = 0
    for index, message in enumerate(request.messages):
        chars = len(message_text(message))
        total += chars
        if chars > limits.max_message_chars:
            raise PayloadTooLargeError(
                f"messages[{index}] has {chars} characters; at most {limits.max_message_chars} per message",
                param=f"messages[{index}].content",
            )
    if total > limits.max_request_chars:
        raise PayloadTooLargeError(
            f"the messages hold {total} characters; at most {limits.max_request_chars} per request",
            param="messages",
        )


def validate_messages(request: ChatCompletionRequest) -> None:
    if not request.messages:
        raise BadRequestError("messages must hold at least one message", param="messages")
    if len(request.messages) > MAX_MESSAGES:
        raise BadRequestError(f"at most {MAX_MESSAGES} messages per request", param="messages")
    for index, message in enumerate(request.messages):
        if message.role not in ROLES:
            raise BadRequestError(
                f"messages[{index}].role must be one of {sorted(ROLES)}", param=f"messages[{index}].role"
            )
    if request.messages[-1].role != "user":
        raise BadRequestError("the last message must come from the user", param="messages")
    if not message_text(request.messages[-1]).strip():
        raise BadRequestError("the last user message is empty", param="messages")


def validate_parameters(request: ChatCompletionRequest, limits: ChatLimits) -> None:
    if request.stream_options is not None and not request.stream:
        raise BadRequestError("stream_options is only allowed when stream is true", param="stream_options")
    if request.n != 1:
        raise BadRequestError("only n = 1 is supported", param="n")
    for name in ("max_tokens", "max_completion_tokens"):
        value = getattr(request, name)
        if value is not None and value < 1:
            raise BadRequestError(f"{name} must be at least 1", param=name)
        if value is not None and value > limits.max_tokens:
            raise BadRequestError(f"{name} must be at most {limits.max_tokens}", param=name)
    if request.temperature is not None and not 0 <= request.temperature <= 2:
        raise BadRequestError("temperature must be between 0 and 2", param="temperature")
    if request.top_p is not None and not 0 < request.top_p <= 1:
        raise BadRequestError("top_p must be in (0, 1]", param="top_p")


def validate_chat_request(request: ChatCompletionRequest, limits: ChatLimits) -> None:
    validate_messages(request)
    validate_size(request, limits)
    validate_parameters(request, limits)


def chosen_session_id(header: str | None, request: ChatCompletionRequest) -> str | None:
    """The conversation to continue: the header or ``tutorbook.session_id`` (both: they must agree)."""
    body = request.tutorbook.session_id if request.tutorbook else None
    if header and body and header != body:
        raise BadRequestError(f"the {SESSION_HEADER} header and tutorbook.session_id differ", param="session_id")
    chosen = header or body
    return None if chosen is None else validate_session_id(chosen)
