"""Plain conversions of chat messages: text of a message, validation, the question being asked."""

from tutorbook_common.errors import BadRequestError
from tutorbook_gateway.schemas import ChatCompletionRequest, ChatMessage

ROLES = {"system", "user", "assistant", "developer", "tool"}
MAX_MESSAGES = 200


def message_text(message: ChatMessage) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return "".join(str(part.get("text", "")) for part in message.content if part.get("type") == "text")


def validate_chat_request(request: ChatCompletionRequest) -> None:
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
    if request.stream_options is not None and not request.stream:
        raise BadRequestError("stream_options is only allowed when stream is true", param="stream_options")
    if request.n != 1:
        raise BadRequestError("only n = 1 is supported", param="n")
    for name in ("max_tokens", "max_completion_tokens"):
        value = getattr(request, name)
        if value is not None and value < 1:
            raise BadRequestError(f"{name} must be at least 1", param=name)
    if request.temperature is not None and not 0 <= request.temperature <= 2:
        raise BadRequestError("temperature must be between 0 and 2", param="temperature")
    if request.top_p is not None and not 0 < request.top_p <= 1:
        raise BadRequestError("top_p must be in (0, 1]", param="top_p")


def latest_question(request: ChatCompletionRequest) -> str:
    return message_text(request.messages[-1]).strip()


def as_openai_messages(messages: list[ChatMessage]) -> list[dict[str, str]]:
    """Plain role/content dicts; ``developer`` is sent as ``system`` (the base model's template knows that)."""
    return [
        {"role": "system" if message.role == "developer" else message.role, "content": message_text(message)}
        for message in messages
    ]


FOLLOW_UP_MAX_WORDS = 8
FOLLOW_UP_PRONOUNS = frozenset(
    {"it", "its", "it's", "that", "this", "these", "those", "they", "them", "their", "one", "ones"}
)
FOLLOW_UP_OPENERS = frozenset({"and", "also", "but", "so", "plus"})


def is_follow_up(question: str) -> bool:
    """A short question that leans on an earlier one ("and how much does it cost?")."""
    words = [word.strip("?!.,'\"").lower() for word in question.split()]
    if not 0 < len(words) <= FOLLOW_UP_MAX_WORDS:
        return False
    return words[0] in FOLLOW_UP_OPENERS or any(word in FOLLOW_UP_PRONOUNS for word in words)


def retrieval_query(messages: list[ChatMessage]) -> str:
    """What to search for: the last question, with the previous user turn in front when it is a follow-up."""
    question = message_text(messages[-1]).strip()
    earlier = [message_text(message).strip() for message in messages[:-1] if message.role == "user"]
    if earlier and earlier[-1] and is_follow_up(question):
        return f"{earlier[-1]} {question}"
    return question
