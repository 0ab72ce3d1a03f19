"""Answer one chat request: gather the router's signals, decide, then generate (or abstain)."""

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tutorbook_common.adapter_card import classifier_messages
from tutorbook_common.errors import BadRequestError, NotFoundError, ServiceError
from tutorbook_gateway.adapters.catalog import ActiveAdapter, AdapterCatalog, AdapterHealth, adapter_states
from tutorbook_gateway.classification import classify
from tutorbook_gateway.clients.generator import GeneratorClient
from tutorbook_gateway.clients.retriever import Passage, RetrieverClient, SearchResult, SimilarQuestion
from tutorbook_gateway.conversation import as_openai_messages, latest_question, retrieval_query, validate_chat_request
from tutorbook_gateway.prompting import Source, abstain_answer, build_rag_messages
from tutorbook_gateway.routing import (
    RetrievalSignals,
    Route,
    RouteDecision,
    RouteHintError,
    RoutePolicy,
    RouteRequest,
    RouteSignals,
    UnknownModelError,
    decide,
    needs_retrieval,
)
from tutorbook_gateway.schemas import ChatCompletionRequest

SNIPPET_CHARS = 240
CLASSIFIER_TOP_LOGPROBS = 10
CLASSIFIER_MAX_TOKENS = 16


@dataclass(frozen=True)
class ChatConfig:
    policy: RoutePolicy
    rag_top_k: int
    rag_context_max_chars: int
    default_temperature: float
    default_max_tokens: int


@dataclass(frozen=True)
class ChatContext:
    """What answering needs besides the request: settings, upstream clients and the adapters."""

    config: ChatConfig
    retriever: RetrieverClient
    generator: GeneratorClient
    adapters: AdapterCatalog
    health: AdapterHealth


@dataclass
class ChatPlan:
    """Everything decided before generation: the route, and the request for the generator (None: abstain)."""

    decision: RouteDecision
    tutorbook: dict[str, Any]
    payload: dict[str, Any] | None
    top_score: float | None = None
    phase_seconds: dict[str, float] = field(default_factory=dict)
    labels: list[str] | None = None  # a classifier adapter answers with one of these
    index_version: int | None = None
    query: str | None = None  # what was searched for
    similar: SimilarQuestion | None = None  # the most similar question answered before (when asked)


@dataclass
class ChatOutcome:
    completion: dict[str, Any]
    plan: ChatPlan

    @property
    def decision(self) -> RouteDecision:
        return self.plan.decision


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
    adapter = decision.adapter
    return {
        "route": decision.route.value,
        "reason": decision.reason,
        "confidence": decision.confidence,
        "adapter": None if adapter is None else {"name": adapter.name, "version": adapter.version},
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


def route_signals(search: SearchResult | None, adapters: Mapping[str, Any]) -> RouteSignals:
    if search is None:
        return RouteSignals(adapters=adapters)
    passages = search.passages
    retrieval = RetrievalSignals(
        scores=tuple(passage.dense_score for passage in passages),
        topics=tuple(passage.title for passage in passages),
        lexical_scores=tuple(passage.lexical_score for passage in passages),
    )
    return RouteSignals(retrieval=retrieval, route_matches=search.route_matches, adapters=adapters)


def generator_payload(
    request: ChatCompletionRequest,
    decision: RouteDecision,
    passages: list[Passage],
    active: Mapping[str, ActiveAdapter],
    config: ChatConfig,
) -> tuple[dict[str, Any], list[Source], list[str] | None]:
    """The request for vLLM, the sources put in its prompt, and the labels when a classifier answers."""
    model = config.policy.base_model if decision.adapter is None else decision.adapter.served_name
    params = sampling_parameters(request, config)
    card = active[decision.adapter.name].card if decision.adapter is not None else None
    if card is not None and card.task_type == "classifier":
        messages = classifier_messages(card.labels, latest_question(request))
        params.update(
            temperature=0.0, max_tokens=CLASSIFIER_MAX_TOKENS, logprobs=True, top_logprobs=CLASSIFIER_TOP_LOGPROBS
        )
        return {"model": model, "messages": messages, **params}, [], card.labels
    messages = as_openai_messages(request.messages)
    used: list[Source] = []
    if decision.route in (Route.RAG, Route.ADAPTER_RAG) and passages:
        sources = [source_from_passage(passage) for passage in passages]
        messages, used = build_rag_messages(messages, sources, config.rag_context_max_chars)
    return {"model": model, "messages": messages, **params}, used, None


async def plan_chat(request: ChatCompletionRequest, context: ChatContext, similar_questions: bool = False) -> ChatPlan:
    """Validate, gather the router's signals, decide, and build the generator request."""
    validate_chat_request(request)
    config = context.config
    active = context.adapters.active()
    states = adapter_states(active, context.health)
    hint = request.tutorbook.route if request.tutorbook else None
    route_request = RouteRequest(model=request.model, route_hint=hint)
    phases: dict[str, float] = {}
    try:
        wants_retrieval = needs_retrieval(route_request, config.policy, states)
    except UnknownModelError as exc:
        raise NotFoundError(f"model {request.model!r} does not exist", param="model", code="model_not_found") from exc
    except RouteHintError as exc:
        raise BadRequestError(str(exc), param="tutorbook.route") from exc

    search: SearchResult | None = None
    query = retrieval_query(request.messages) if wants_retrieval else None
    if query is not None:
        started = time.perf_counter()
        search = await context.retriever.search(query, config.rag_top_k, similar_questions)
        phases["retrieve"] = time.perf_counter() - started
    signals = route_signals(search, states)
    started = time.perf_counter()
    try:
        decision = decide(route_request, signals, config.policy)
    except RouteHintError as exc:
        raise BadRequestError(str(exc), param="tutorbook.route") from exc
    phases["route"] = time.perf_counter() - started
    top_score = signals.retrieval.top_score if signals.retrieval else None
    index_version = search.index_version if search else None
    similar = search.similar if search else None
    if decision.route is Route.ABSTAIN:
        block = tutorbook_block(decision, [])
        return ChatPlan(decision, block, None, top_score, phases, None, index_version, query, similar)
    passages = search.passages if search else []
    payload, used, labels = generator_payload(request, decision, passages, active, config)
    block = tutorbook_block(decision, used)
    return ChatPlan(decision, block, payload, top_score, phases, labels, index_version, query, similar)


async def generate(plan: ChatPlan, context: ChatContext) -> dict[str, Any]:
    """Run the plan's generation; a classifier's answer becomes its label, confidence and runners-up."""
    assert plan.payload is not None
    started = time.perf_counter()
    adapter = plan.decision.adapter
    try:
        completion = await context.generator.chat_completion(plan.payload)
    except ServiceError:
        if adapter is not None:
            context.health.record_error(adapter.name)
        raise
    finally:
        plan.phase_seconds["generate"] = time.perf_counter() - started
    if plan.labels is not None:
        choice = completion["choices"][0]
        tokens = (choice.get("logprobs") or {}).get("content") or []
        result = classify(tokens, plan.labels)
        choice["message"]["content"] = result.text()
        choice["logprobs"] = None
        plan.tutorbook["classification"] = result.as_dict()
    return completion


async def answer_chat(request: ChatCompletionRequest, context: ChatContext) -> ChatOutcome:
    return await complete(await plan_chat(request, context), request, context)


async def complete(plan: ChatPlan, request: ChatCompletionRequest, context: ChatContext) -> ChatOutcome:
    """Carry out a plan: abstain locally, or generate."""
    if plan.payload is None:
        completion = local_completion(request.model, abstain_answer(plan.decision.suggestions))
    else:
        completion = await generate(plan, context)
    completion["tutorbook"] = plan.tutorbook
    return ChatOutcome(completion, plan)
