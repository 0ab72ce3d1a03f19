"""Plan an answer: gather the router's signals (one retriever call: passages, route-example matches and,
when asked, the most similar answered question), decide the route, and build the generator's request."""

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tutorbook_adapter_format.card import classifier_messages
from tutorbook_gateway.adapters.catalog import ActiveAdapter, AdapterCatalog, AdapterHealth, adapter_states
from tutorbook_gateway.chat.claim_checking import ClaimCheckConfig
from tutorbook_gateway.chat.label_scoring import LabelTokens
from tutorbook_gateway.chat.validation import ChatLimits
from tutorbook_gateway.clients.generator import GeneratorClient
from tutorbook_gateway.clients.retriever import Passage, RetrieverClient, SearchResult, SimilarQuestion
from tutorbook_gateway.conversation import as_openai_messages, latest_question, retrieval_query
from tutorbook_gateway.routing import (
    AUTO_MODEL,
    SMALL_TALK,
    VERSION_SEPARATOR,
    AdapterState,
    RetrievalSignals,
    Route,
    RouteDecision,
    RouteHintError,
    RoutePolicy,
    RouteRequest,
    RouteSignals,
    UnknownModelError,
    decide,
    healthy,
    needs_retrieval,
    resolve_adapter,
)
from tutorbook_gateway.schemas import ChatCompletionRequest
from tutorbook_gateway.small_talk import SmallTalkMemory
from tutorbook_grounding.policy import ClaimsPolicy
from tutorbook_grounding.prompt import Source, build_rag_messages
from tutorbook_service.errors import BadRequestError, NotFoundError

SNIPPET_CHARS = 240


@dataclass(frozen=True)
class ChatConfig:
    policy: RoutePolicy
    limits: ChatLimits
    rag_top_k: int
    rag_context_max_chars: int
    default_temperature: float
    default_max_tokens: int
    claim_check: ClaimCheckConfig = field(default_factory=ClaimCheckConfig)
    rag_reader: str | None = None  # an adapter that writes the RAG route's answers (the grounded reader)
    rag_repetition_penalty: float = 1.0  # for answers written from passages (1.0: none)
    rag_frequency_penalty: float = 0.0  # for answers written from passages (0.0: none)


@dataclass(frozen=True)
class ChatContext:
    """What planning and generating need besides the request: settings, upstream clients, the adapters."""

    config: ChatConfig
    retriever: RetrieverClient
    generator: GeneratorClient
    adapters: AdapterCatalog
    health: AdapterHealth
    small_talk: SmallTalkMemory  # what the router recognised as small talk (for when the retriever is down)
    label_tokens: LabelTokens = field(default_factory=LabelTokens)  # classifier labels as answers, in tokens

    def adapter_snapshot(self) -> "AdapterSnapshot":
        """The active adapters, read once per request: their cards, and their state as the router sees it."""
        active = self.adapters.active()
        return AdapterSnapshot(active, adapter_states(active, self.health))


@dataclass(frozen=True)
class AdapterSnapshot:
    active: Mapping[str, ActiveAdapter]
    states: Mapping[str, AdapterState]


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
    sources: list[Source] = field(default_factory=list)  # the passages in the prompt, as numbered there
    claims_policy: ClaimsPolicy = ClaimsPolicy.WITHHOLD  # for an answer written from the sources
    reader: AdapterState | None = None  # the adapter writing a RAG answer in the base model's place


def sampling_parameters(request: ChatCompletionRequest, config: ChatConfig) -> dict[str, Any]:
    params: dict[str, Any] = {
        "temperature": config.default_temperature if request.temperature is None else request.temperature,
        "max_tokens": request.max_completion_tokens or request.max_tokens or config.default_max_tokens,
    }
    optional = {"top_p": request.top_p, "stop": request.stop, "seed": request.seed, "user": request.user}
    params.update({name: value for name, value in optional.items() if value is not None})
    return params


def claims_policy_of(request: ChatCompletionRequest, config: ChatConfig) -> ClaimsPolicy:
    """What happens to unsupported sentences: the request's choice, else the gateway's setting."""
    chosen = request.tutorbook.claims_policy if request.tutorbook else None
    return chosen or config.claim_check.policy


def route_request_of(request: ChatCompletionRequest) -> RouteRequest:
    return RouteRequest(model=request.model, route_hint=request.tutorbook.route if request.tutorbook else None)


def wants_retrieval(request: ChatCompletionRequest, context: ChatContext, adapters: "AdapterSnapshot") -> bool:
    """Whether the route may need passages; an unknown model (or pinned version) is a 404, a bad route
    hint a 400."""
    try:
        retrieves = needs_retrieval(route_request_of(request), context.config.policy, adapters.states)
    except UnknownModelError as exc:
        raise unknown_model(request.model) from exc
    except RouteHintError as exc:
        raise BadRequestError(str(exc), param="tutorbook.route") from exc
    if VERSION_SEPARATOR in request.model:  # a pinned version must be stored, not only look like one
        pinned = resolve_adapter(request.model, adapters.states)
        if pinned is not None and not context.adapters.has_version(pinned.name, pinned.version):
            raise unknown_model(request.model)
    return retrieves


def unknown_model(model: str) -> NotFoundError:
    return NotFoundError(f"model {model!r} does not exist", param="model", code="model_not_found")


def citation(source: Source) -> dict[str, Any]:
    return {
        "doc_id": source.doc_id,
        "title": source.title,
        "section": source.section,
        "score": source.score,
        "snippet": source.text[:SNIPPET_CHARS],
        "text": source.text,  # the whole passage: a reader opens it and sees the quoted spans in place
    }


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


def rag_reader(
    decision: RouteDecision, adapters: Mapping[str, AdapterState], config: ChatConfig
) -> AdapterState | None:
    """The grounded reader that writes this RAG answer, when one is set, active and healthy; else None
    (the base model writes it). Only for "auto": a request that names the base model gets the base model."""
    reader = adapters.get(config.rag_reader) if config.rag_reader else None
    if decision.route is not Route.RAG or reader is None or reader.task_type != "generative":
        return None
    return reader if healthy(reader, config.policy) is None else None


def generator_payload(
    request: ChatCompletionRequest,
    decision: RouteDecision,
    passages: list[Passage],
    active: Mapping[str, ActiveAdapter],
    config: ChatConfig,
    reader: AdapterState | None = None,
) -> tuple[dict[str, Any], list[Source], list[str] | None]:
    """The request for vLLM, the sources put in its prompt, and the labels when a classifier answers."""
    writer = decision.adapter or reader
    model = config.policy.base_model if writer is None else writer.served_name
    params = sampling_parameters(request, config)
    card = active[decision.adapter.name].card if decision.adapter is not None else None
    if card is not None and card.task_type == "classifier":
        # scored label by label (chat/label_scoring.py): sampling parameters do not apply
        return {"model": model, "messages": classifier_messages(card.labels, latest_question(request))}, [], card.labels
    messages = as_openai_messages(request.messages)
    used: list[Source] = []
    if decision.route in (Route.RAG, Route.ADAPTER_RAG) and passages:
        sources = [Source(p.doc_id, p.title, p.section, p.text, p.dense_score) for p in passages]
        messages, used = build_rag_messages(messages, sources, config.rag_context_max_chars)
        if config.rag_repetition_penalty != 1.0:  # vLLM's sampling extension; 1.0 is vLLM's default
            params["repetition_penalty"] = config.rag_repetition_penalty
        if config.rag_frequency_penalty:  # OpenAI's; 0.0 is the default
            params["frequency_penalty"] = config.rag_frequency_penalty
    return {"model": model, "messages": messages, **params}, used, None


async def search_if_needed(
    request: ChatCompletionRequest,
    context: ChatContext,
    retrieve: bool,
    similar_questions: bool,
    phases: dict[str, float],
) -> tuple[str | None, SearchResult | None]:
    """The query and what the retriever found for it (None, None: the route needs no passages)."""
    if not retrieve:
        return None, None
    query = retrieval_query(request.messages)
    started = time.perf_counter()
    search = await context.retriever.search(query, context.config.rag_top_k, similar_questions)
    phases["retrieve"] = time.perf_counter() - started
    return query, search


async def plan_chat(
    request: ChatCompletionRequest,
    context: ChatContext,
    adapters: AdapterSnapshot,
    retrieve: bool,
    similar_questions: bool = False,
) -> ChatPlan:
    """Retrieve (once, when the route may need it), decide, and build the generator request."""
    config = context.config
    phases: dict[str, float] = {}
    query, search = await search_if_needed(request, context, retrieve, similar_questions, phases)
    signals = route_signals(search, adapters.states)
    started = time.perf_counter()
    try:
        decision = decide(route_request_of(request), signals, config.policy)
    except RouteHintError as exc:
        raise BadRequestError(str(exc), param="tutorbook.route") from exc
    phases["route"] = time.perf_counter() - started
    if decision.rule == "small_talk":
        context.small_talk.remember(latest_question(request), signals.route_matches[SMALL_TALK])
    top_score = signals.retrieval.top_score if signals.retrieval else None
    index_version = search.index_version if search else None
    similar = search.similar if search else None
    if decision.route is Route.ABSTAIN:
        block = tutorbook_block(decision, [])
        return ChatPlan(decision, block, None, top_score, phases, None, index_version, query, similar)
    passages = search.passages if search else []
    reader = rag_reader(decision, adapters.states, config) if request.model == AUTO_MODEL else None
    payload, used, labels = generator_payload(request, decision, passages, adapters.active, config, reader)
    block = tutorbook_block(decision, used)
    if reader is not None:
        block["reader"] = {"name": reader.name, "version": reader.version}
    policy = claims_policy_of(request, config)
    plan = ChatPlan(decision, block, payload, top_score, phases, labels, index_version, query, similar, used, policy)
    plan.reader = reader
    return plan


def plan_from_cache(tutorbook: dict[str, Any]) -> ChatPlan:
    """What metrics need from a cached answer: its original decision (no new decision was made)."""
    adapter = tutorbook.get("adapter")
    decision = RouteDecision(
        Route(tutorbook.get("route", "prompt")),
        float(tutorbook.get("confidence", 1.0)),
        "cached",
        adapter=AdapterState(adapter["name"], int(adapter["version"])) if adapter else None,
        rule="cache",
    )
    return ChatPlan(decision, tutorbook, None)
