"""Steps 1 and 3 of answering: the chat request, parsed once, then continued with its session's turns.

:func:`parse_chat` refuses a malformed request before anything is read or stored, so the same request
gets the same 4xx whether or not its answer is cached; then it works out, once, what every later step
reads: the messages as text, the sampling parameters, the route request (the adapter it names, a pinned
version resolved), the claims policy, and what the request may cost. Later steps read the
:class:`ChatRequest`; none parses the body again. A request that names a session is then
:func:`continued`: its stored turns go between the request's system messages and its new turns.
"""

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tutorbook_adapter_format.layout import VERSION_SEPARATOR
from tutorbook_gateway.access.directory import Caller
from tutorbook_gateway.adapters.catalog import ActiveAdapter, AdapterCatalog, AdapterHealth, adapter_states
from tutorbook_gateway.chat.config import ChatConfig, ChatLimits
from tutorbook_gateway.routing import (
    AdapterState,
    RouteHintError,
    RouteRequest,
    UnknownModelError,
    route_request,
)
from tutorbook_gateway.schemas import ChatCompletionRequest, ChatMessage
from tutorbook_gateway.state.conversations import CHARS_PER_TOKEN, TURN_OVERHEAD_TOKENS, Turn
from tutorbook_grounding.policy import ClaimsPolicy
from tutorbook_service.errors import BadRequestError, ForbiddenError, NotFoundError, PayloadTooLargeError

ROLES = {"system", "user", "assistant", "developer", "tool"}
SYSTEM_ROLES = ("system", "developer")
MAX_MESSAGES = 200
SESSION_HEADER = "x-tutorbook-session"
SESSION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass(frozen=True)
class AdapterSnapshot:
    """The active adapters, read once per request: their cards, and their state as the router sees it."""

    active: Mapping[str, ActiveAdapter]
    states: Mapping[str, AdapterState]
    catalog: AdapterCatalog


def adapter_snapshot(catalog: AdapterCatalog, health: AdapterHealth) -> AdapterSnapshot:
    active = catalog.active()
    return AdapterSnapshot(active, adapter_states(active, health), catalog)


@dataclass(frozen=True)
class ChatCall:
    """A chat request as the route received it: the body, who asks, the session header."""

    body: ChatCompletionRequest
    caller: Caller  # sessions, limits, feedback and the exact cache per key; documents per team
    session_header: str | None = None


@dataclass(frozen=True)
class ChatRequest:
    """A request parsed and checked; ``messages`` gain the session's earlier turns in step 3."""

    body: ChatCompletionRequest
    caller: Caller
    session_id: str | None
    messages: tuple[Turn, ...]  # every message as text, in order
    own_turns: tuple[Turn, ...]  # the request's user and assistant turns: what a session keeps of it
    question: str  # the last user message
    route: RouteRequest
    adapters: AdapterSnapshot  # the active adapters, read once per request
    sampling: dict[str, Any]  # temperature, max_tokens and what the client set of top_p, stop, seed, user
    claims_policy: ClaimsPolicy
    deterministic: bool  # temperature 0 or a seed: the answer may be cached
    prompt_tokens: int  # estimated, without a tokenizer, before the session's turns are added
    max_tokens: int

    @property
    def owner(self) -> str:
        return self.caller.owner


def message_text(message: ChatMessage) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return "".join(str(part.get("text", "")) for part in message.content if part.get("type") == "text")


def parse_chat(call: ChatCall, config: ChatConfig, adapters: AdapterSnapshot) -> ChatRequest:
    """The request, checked (400, 404 for an unknown model, 413 for a long one) and parsed."""
    body = call.body
    validate_messages(body)
    messages = tuple(Turn(message.role, message_text(message)) for message in body.messages)
    validate_size(messages, config.limits)
    validate_parameters(body, config.limits)
    sampling = sampling_parameters(body, config)
    chosen = body.tutorbook.claims_policy if body.tutorbook else None
    adapters = permitted(call.caller, body.model, adapters)
    return ChatRequest(
        body=body,
        caller=call.caller,
        session_id=chosen_session_id(call.session_header, body),
        messages=messages,
        own_turns=tuple(turn for turn in messages if turn.role in ("user", "assistant")),
        question=messages[-1].content.strip(),
        route=parse_route(body, config, adapters),
        adapters=adapters,
        sampling=sampling,
        claims_policy=chosen or config.claim_check.policy,
        deterministic=sampling["temperature"] == 0 or body.seed is not None,
        prompt_tokens=sum(len(turn.content) for turn in messages) // CHARS_PER_TOKEN
        + TURN_OVERHEAD_TOKENS * len(messages),
        max_tokens=sampling["max_tokens"],
    )


def permitted(caller: Caller, model: str, adapters: AdapterSnapshot) -> AdapterSnapshot:
    """The adapters this caller may be answered by: those private to other teams are not there at all (a
    request naming one: 404, as for any unknown model), and when its key lists models, only those (naming
    another: 403)."""
    if not caller.may_use(model):
        raise ForbiddenError(f"this key may not use the model {model!r}", param="model", code="model_not_allowed")
    visible = {name: state for name, state in adapters.states.items() if usable(caller, name, adapters.active)}
    if model.split(VERSION_SEPARATOR, 1)[0] in set(adapters.states) - set(visible):
        raise unknown_model(model)
    return dataclasses.replace(adapters, states=visible)


def usable(caller: Caller, name: str, active: Mapping[str, ActiveAdapter]) -> bool:
    teams = active[name].card.teams if name in active else []
    return caller.may_use(name) and (not teams or caller.team in teams)


def validate_messages(body: ChatCompletionRequest) -> None:
    if not body.messages:
        raise BadRequestError("messages must hold at least one message", param="messages")
    if len(body.messages) > MAX_MESSAGES:
        raise BadRequestError(f"at most {MAX_MESSAGES} messages per request", param="messages")
    for index, message in enumerate(body.messages):
        if message.role not in ROLES:
            raise BadRequestError(
                f"messages[{index}].role must be one of {sorted(ROLES)}", param=f"messages[{index}].role"
            )
    if body.messages[-1].role != "user":
        raise BadRequestError("the last message must come from the user", param="messages")
    if not message_text(body.messages[-1]).strip():
        raise BadRequestError("the last user message is empty", param="messages")


def validate_size(messages: tuple[Turn, ...], limits: ChatLimits) -> None:
    total = 0
    for index, message in enumerate(messages):
        chars = len(message.content)
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


def validate_parameters(body: ChatCompletionRequest, limits: ChatLimits) -> None:
    if body.stream_options is not None and not body.stream:
        raise BadRequestError("stream_options is only allowed when stream is true", param="stream_options")
    if body.n != 1:
        raise BadRequestError("only n = 1 is supported", param="n")
    for name in ("max_tokens", "max_completion_tokens"):
        value = getattr(body, name)
        if value is not None and value < 1:
            raise BadRequestError(f"{name} must be at least 1", param=name)
        if value is not None and value > limits.max_tokens:
            raise BadRequestError(f"{name} must be at most {limits.max_tokens}", param=name)
    if body.temperature is not None and not 0 <= body.temperature <= 2:
        raise BadRequestError("temperature must be between 0 and 2", param="temperature")
    if body.top_p is not None and not 0 < body.top_p <= 1:
        raise BadRequestError("top_p must be in (0, 1]", param="top_p")


def chosen_session_id(header: str | None, body: ChatCompletionRequest) -> str | None:
    """The conversation to continue: the header or ``tutorbook.session_id`` (both: they must agree)."""
    from_body = body.tutorbook.session_id if body.tutorbook else None
    if header and from_body and header != from_body:
        raise BadRequestError(f"the {SESSION_HEADER} header and tutorbook.session_id differ", param="session_id")
    chosen = header or from_body
    if chosen is not None and not SESSION_ID.fullmatch(chosen):
        raise BadRequestError(
            "session_id must be 1-128 characters of letters, digits and ._:-", param="tutorbook.session_id"
        )
    return chosen


def sampling_parameters(body: ChatCompletionRequest, config: ChatConfig) -> dict[str, Any]:
    answers = config.answers
    params: dict[str, Any] = {
        "temperature": answers.default_temperature if body.temperature is None else body.temperature,
        "max_tokens": body.max_completion_tokens or body.max_tokens or answers.default_max_tokens,
    }
    optional = {"top_p": body.top_p, "stop": body.stop, "seed": body.seed, "user": body.user}
    params.update({name: value for name, value in optional.items() if value is not None})
    return params


def parse_route(body: ChatCompletionRequest, config: ChatConfig, adapters: AdapterSnapshot) -> RouteRequest:
    """The route request; an unknown model (or a pinned version not stored) is a 404, a bad hint a 400."""
    hint = body.tutorbook.route if body.tutorbook else None
    try:
        route = route_request(body.model, hint, config.policy, adapters.states)
    except UnknownModelError as exc:
        raise unknown_model(body.model) from exc
    except RouteHintError as exc:
        raise BadRequestError(str(exc), param="tutorbook.route") from exc
    pinned = route.adapter
    if (
        pinned is not None
        and VERSION_SEPARATOR in body.model
        and not adapters.catalog.has_version(pinned.name, pinned.version)
    ):
        raise unknown_model(body.model)  # a pinned version must be stored, not only look like one
    return route


def unknown_model(model: str) -> NotFoundError:
    return NotFoundError(f"model {model!r} does not exist", param="model", code="model_not_found")


class ConversationStore(Protocol):
    """Sessions in the state store (:class:`~tutorbook_gateway.state.degrading.DegradingConversations`: a
    store that is down has no history and keeps nothing, it never fails a request)."""

    async def history(self, owner: str, session_id: str) -> list[Turn]: ...

    async def record(self, owner: str, session_id: str, turns: list[Turn]) -> None: ...


async def continued(request: ChatRequest, conversations: ConversationStore) -> ChatRequest:
    """The request with its session's earlier turns (itself when it names no session, or none are kept)."""
    if request.session_id is None:
        return request
    history = await conversations.history(request.owner, request.session_id)
    if not history:
        return request
    system = [turn for turn in request.messages if turn.role in SYSTEM_ROLES]
    rest = [turn for turn in request.messages if turn.role not in SYSTEM_ROLES]
    return dataclasses.replace(request, messages=(*system, *history, *rest))
