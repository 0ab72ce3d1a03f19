"""Answer one chat request: gather the router's signals, decide, then generate (or abstain)."""

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tutorbook_common.errors import NotFoundError
from tutorbook_gateway.clients.generator import GeneratorClient
from tutorbook_gateway.clients.retriever import Passage, RetrieverClient
from tutorbook_gateway.conversation import as_openai_messages, latest_question, validate_chat_request
from tutorbook_gateway.prompting import Source, abstain_answer, build_rag_messages
from tutorbook_gateway.routing import (
    RetrievalSignals,
    Route,
    RouteDecision,
    RoutePolicy,
    RouteRequest,
    RouteSignals,
    UnknownModelError,
    decide,
    needs_retrieval,
)
from tutorbook_gateway.schemas import ChatCompletionRequest

SNIPPET_CHARS = 240


@dataclass(frozen=True)
class ChatConfig:
    policy: RoutePolicy
    rag_top_k: int
    rag_context_max_chars: int
    default_temperature: float
    default_max_tokens: int


@dataclass
class ChatOutcome:
    completion: dict[str, Any]
    decision: RouteDecision
    top_score: float | None = None
    phase_seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class ChatPlan:
    """Everything decided before generation: the route, and the request for the generator (None: abstain)."""

    decision: RouteDecision
    tutorbook: dict[str, Any]
    payload: dict[str, Any] | None
    top_score: float | None = None
    phase_seconds: dict[str, float] = field(default_factory=dict)


def sampling_parameters(request: ChatCompletionRequest, config: ChatConfig) -> dict[str, Any]:
    params: dict[str, Any] = {
        "temperature": config.default_temperature if request.temperature is None else request.temperature,
        "max_tokens": request.max_completion_tokens or request.max_tokens or config.default_max_tokens,
    }
    optional = {"top_p": request.top_p, "stop": request.stop, "seed": request.seed, "user": request.user}
    params.update({name: value for name, value in optional.items() if value is not None})
    return params


def citation(source: Source) -> dict[str, Any]:
    return {
        "doc_id": source.doc_id,
        "title": source.title,
        "section": source.section,
        "score": source.score,
        "snippet": source.text[:SNIPPET_CHARS],
    }


def source_from_passage(passage: Passage) -> Source:
    return Source(passage.doc_id, passage.title, passage.section, passage.text, passage.dense_score)


def tutorbook_block(decision: RouteDecision, sources: list[Source]) -> dict[str, Any]:
    return {
        "route": decision.route.value,
        "reason": decision.reason,
        "confidence": decision.confidence,
        "citations": [citation(source) for source in sources],
        "suggestions": list(decision.suggestions),
    }


def local_completion(model: str, text: str) -> dict[str, Any]:
    """A chat.completion the gateway answers itself (abstain): no tokens were generated."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "logprobs": None}
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


async def plan_chat(request: ChatCompletionRequest, config: ChatConfig, retriever: RetrieverClient) -> ChatPlan:
    """Validate, gather the router's signals, decide, and build the generator request."""
    validate_chat_request(request)
    route_request = RouteRequest(model=request.model)
    phases: dict[str, float] = {}
    try:
        wants_retrieval = needs_retrieval(route_request, config.policy)
    except UnknownModelError as exc:
        raise NotFoundError(f"model {request.model!r} does not exist", param="model", code="model_not_found") from exc

    passages: list[Passage] = []
    if wants_retrieval:
        started = time.perf_counter()
        passages = await retriever.search(latest_question(request), config.rag_top_k)
        phases["retrieve"] = time.perf_counter() - started
    signals = RouteSignals(
        retrieval=RetrievalSignals(
            scores=tuple(passage.dense_score for passage in passages),
            topics=tuple(passage.title for passage in passages),
        )
        if wants_retrieval
        else None
    )
    started = time.perf_counter()
    decision = decide(route_request, signals, config.policy)
    phases["route"] = time.perf_counter() - started
    top_score = signals.retrieval.top_score if signals.retrieval else None
    if decision.route is Route.ABSTAIN:
        return ChatPlan(decision, tutorbook_block(decision, []), None, top_score, phases)

    messages = as_openai_messages(request.messages)
    used: list[Source] = []
    if decision.route is Route.RAG:
        sources = [source_from_passage(passage) for passage in passages]
        messages, used = build_rag_messages(messages, sources, config.rag_context_max_chars)
    payload = {"model": config.policy.base_model, "messages": messages, **sampling_parameters(request, config)}
    return ChatPlan(decision, tutorbook_block(decision, used), payload, top_score, phases)


async def answer_chat(
    request: ChatCompletionRequest, config: ChatConfig, retriever: RetrieverClient, generator: GeneratorClient
) -> ChatOutcome:
    plan = await plan_chat(request, config, retriever)
    if plan.payload is None:
        completion = local_completion(request.model, abstain_answer(plan.decision.suggestions))
    else:
        started = time.perf_counter()
        completion = await generator.chat_completion(plan.payload)
        plan.phase_seconds["generate"] = time.perf_counter() - started
    completion["tutorbook"] = plan.tutorbook
    return ChatOutcome(completion, plan.decision, plan.top_score, plan.phase_seconds)
