"""Plain conversions of chat messages: the text of a message, the question being asked, what to search for."""

from tutorbook_gateway.schemas import ChatCompletionRequest, ChatMessage


def message_text(message: ChatMessage) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return "".join(str(part.get("text", "")) for part in message.content if part.get("type") == "text")


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
