"""Step 5 of answering: plan the answer. Gather the router's signals (one retriever call: passages,
route-example matches and, when asked, the most similar answered question), decide the route, and build
the generator's request. When the generator cannot serve the adapter the router chose, the plan is made
again without it (:func:`plan_again`).

While the retriever is down, small talk is still answered. The router tells small talk from product
questions by how well the question matches its conversation examples, and that match comes from the
retriever, so every question it decides is small talk is remembered (normalised, in a bounded memory per
process), beside the examples themselves. While the retriever fails, an ``auto`` request whose latest
question is remembered is answered by plain prompting, its reason saying so; any other request gets the
retriever's 503 (a product question answered without its passages would be a guess).
"""

import re
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tutorbook_adapter_format.classification import classifier_messages
from tutorbook_gateway.adapters.catalog import ActiveAdapter
from tutorbook_gateway.chat.config import ChatConfig
from tutorbook_gateway.chat.request import AdapterSnapshot, ChatRequest
from tutorbook_gateway.clients.retriever import RetrieverClient, SearchResult, SimilarQuestion
from tutorbook_gateway.clients.upstream import ModelNotServedError
from tutorbook_gateway.metrics import GatewayMetrics
from tutorbook_gateway.routing import (
    AUTO_MODEL,
    SMALL_TALK,
    AdapterState,
    RetrievalSignals,
    Route,
    RouteDecision,
    RoutePolicy,
    RouteRequest,
    RouteSignals,
    confidence,
    decide,
)
from tutorbook_gateway.state.conversations import Turn
from tutorbook_grounding.policy import ClaimsPolicy
from tutorbook_grounding.prompt import Source, build_rag_messages
from tutorbook_service.errors import PayloadTooLargeError, ServiceError
from tutorbook_service.request_context import traced

SNIPPET_CHARS = 240
REMEMBERED_RULE = "small_talk_remembered"
WORDS = re.compile(r"[^\W_]+")
EXAMPLE_SCORE = 1.0  # an example matches itself
FOLLOW_UP_MAX_WORDS = 8
FOLLOW_UP_PRONOUNS = frozenset(
    {"it", "its", "it's", "that", "this", "these", "those", "they", "them", "their", "one", "ones"}
)
FOLLOW_UP_OPENERS = frozenset({"and", "also", "but", "so", "plus"})


def normalised(text: str) -> str:
    """Its words, lower case: "Hi!" and "hi" are the same small talk."""
    return " ".join(WORDS.findall(text.lower()))


class SmallTalkMemory:
    """Questions the router decided were small talk, with their match score, at most ``capacity`` of them
    (the least recently used go first); the conversation examples are always there."""

    def __init__(self, capacity: int, examples: Iterable[str] = ()) -> None:
        self._capacity = capacity
        self._examples = {normalised(example) for example in examples}
        self._scores: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._scores)

    def remember(self, question: str, score: float) -> None:
        key = normalised(question)
        if self._capacity <= 0 or not key or key in self._examples:
            return
        self._scores[key] = score
        self._scores.move_to_end(key)
        while len(self._scores) > self._capacity:
            self._scores.popitem(last=False)

    def recall(self, question: str) -> float | None:
        """The question's small-talk score when it was decided, or None: not known as small talk."""
        key = normalised(question)
        if key in self._examples:
            return EXAMPLE_SCORE
        score = self._scores.get(key)
        if score is not None:
            self._scores.move_to_end(key)
        return score


@dataclass(frozen=True)
class Planner:
    """What planning needs besides the request."""

    config: ChatConfig
    retriever: RetrieverClient
    small_talk: SmallTalkMemory  # what the router recognised as small talk (for when the retriever is down)
    metrics: GatewayMetrics


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
    codes: list[str] = field(default_factory=list)  # a classifier trained to answer with its labels' codes


def is_follow_up(question: str) -> bool:
    """A short question that leans on an earlier one ("and how much does it cost?")."""
    words = [word.strip("?!.,'\"").lower() for word in question.split()]
    if not 0 < len(words) <= FOLLOW_UP_MAX_WORDS:
        return False
    return words[0] in FOLLOW_UP_OPENERS or any(word in FOLLOW_UP_PRONOUNS for word in words)


def retrieval_query(messages: tuple[Turn, ...]) -> str:
    """What to search for: the last question, with the previous user turn in front when it is a follow-up."""
    question = messages[-1].content.strip()
    earlier = [turn.content.strip() for turn in messages[:-1] if turn.role == "user"]
    if earlier and earlier[-1] and is_follow_up(question):
        return f"{earlier[-1]} {question}"
    return question


def openai_messages(messages: tuple[Turn, ...]) -> list[dict[str, str]]:
    """Plain role/content dicts; ``developer`` is sent as ``system`` (the base model's template knows that)."""
    return [{"role": "system" if turn.role == "developer" else turn.role, "content": turn.content} for turn in messages]


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
    } | ({"reader": {"name": decision.reader.name, "version": decision.reader.version}} if decision.reader else {})


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


def prompt_payload(request: ChatRequest, decision: RouteDecision, config: ChatConfig) -> dict[str, Any]:
    """The conversation as vLLM gets it, with the request's sampling, for the model that writes the answer."""
    writer = decision.adapter or decision.reader
    model = config.policy.base_model if writer is None else writer.served_name
    return {"model": model, "messages": openai_messages(request.messages), **request.sampling}


def check_classified_length(question: str, limit: int) -> None:
    if len(question) > limit:
        setting = "TUTORBOOK_GATEWAY_LIMITS__MAX_CLASSIFIED_CHARS"
        raise PayloadTooLargeError(f"a classifier scores at most {limit} characters of a message ({setting})")


def generator_payload(
    request: ChatRequest,
    decision: RouteDecision,
    sources: list[Source],
    active: Mapping[str, ActiveAdapter],
    config: ChatConfig,
) -> tuple[dict[str, Any], list[Source], list[str] | None]:
    """The request for vLLM, the sources put in its prompt (those that fit, in order), and the labels when a
    classifier answers."""
    payload = prompt_payload(request, decision, config)
    card = active[decision.adapter.name].card if decision.adapter is not None else None
    if card is not None and card.task_type == "classifier":
        # scored, not sampled (chat/classifying.py): sampling parameters do not apply
        check_classified_length(request.question, config.limits.max_classified_chars)
        messages = classifier_messages(card.labels, request.question, card.label_codes or None)
        return {"model": payload["model"], "messages": messages}, [], card.labels
    if decision.route not in (Route.RAG, Route.ADAPTER_RAG) or not sources:
        return payload, [], None
    if config.answers.repetition_penalty != 1.0:  # vLLM's sampling extension; 1.0 is vLLM's default
        payload["repetition_penalty"] = config.answers.repetition_penalty
    if config.answers.frequency_penalty:  # OpenAI's; 0.0 is the default
        payload["frequency_penalty"] = config.answers.frequency_penalty
    payload["messages"], used = build_rag_messages(payload["messages"], sources, config.answers.context_max_chars)
    return payload, used, None


async def search_if_needed(
    request: ChatRequest, planner: Planner, similar_questions: bool, phases: dict[str, float]
) -> tuple[str | None, SearchResult | None]:
    """The query and what the retriever found for it (None, None: the route needs no passages)."""
    if not request.route.retrieves:
        return None, None
    query = retrieval_query(request.messages)
    started = time.perf_counter()
    team = request.caller.team  # only the documents its team may see
    with traced("retrieve"):
        search = await planner.retriever.search(query, planner.config.answers.top_k, team, similar_questions)
    phases["retrieve"] = time.perf_counter() - started
    return query, search


async def plan_chat(
    request: ChatRequest, planner: Planner, similar_questions: bool = False, adapters: AdapterSnapshot | None = None
) -> ChatPlan:
    """Retrieve (once, when the route may need it), decide, and build the generator request."""
    adapters = adapters or request.adapters
    phases: dict[str, float] = {}
    try:
        query, search = await search_if_needed(request, planner, similar_questions, phases)
    except ServiceError as exc:
        if getattr(exc, "service", None) != "retriever" or exc.status_code < 500:
            raise
        return plan_without_retriever(request, planner, exc)
    signals = route_signals(search, adapters.states)
    started = time.perf_counter()
    with traced("route"):
        decision = decide(request.route, signals, planner.config.policy)
    phases["route"] = time.perf_counter() - started
    if decision.rule == "small_talk":
        planner.small_talk.remember(request.question, signals.route_matches[SMALL_TALK])
    top_score = signals.retrieval.top_score if signals.retrieval else None
    index_version, similar = (search.index_version, search.similar) if search else (None, None)
    if decision.route is Route.ABSTAIN:
        block = tutorbook_block(decision, [])
        return ChatPlan(decision, block, None, top_score, phases, None, index_version, query, similar)
    sources = [Source(p.doc_id, p.title, p.section, p.text, p.dense_score) for p in search.passages] if search else []
    block = tutorbook_block(decision, sources)
    payload, used, labels = generator_payload(request, decision, sources, adapters.active, planner.config)
    block["citations"] = block["citations"][: len(used)]  # the sources that fit the prompt: the first ones
    plan = ChatPlan(decision, block, payload, top_score, phases, labels, index_version)
    plan.query, plan.similar, plan.sources = query, similar, used
    plan.claims_policy, plan.reader = request.claims_policy, decision.reader
    if labels is not None and decision.adapter is not None:
        plan.codes = adapters.active[decision.adapter.name].card.label_codes
    return plan


def plan_without_retriever(request: ChatRequest, planner: Planner, failure: ServiceError) -> ChatPlan:
    """The plan for remembered small talk when the retriever failed; any other request gets the failure."""
    planner.metrics.upstream_errors.labels(service="retriever", kind=failure.code or "error").inc()
    policy = planner.config.policy
    decision = remembered_small_talk(request.route, request.question, planner.small_talk, policy, failure)
    if decision is None:
        raise failure
    block = tutorbook_block(decision, [])
    block["fallback"] = {"without": "retriever", "because": failure.code}
    return ChatPlan(decision, block, prompt_payload(request, decision, planner.config))


def can_plan_again(request: ChatRequest, plan: ChatPlan) -> bool:
    """Only the router's own choice of an adapter (or of the grounded reader) is undone; a request that
    named the adapter gets the 503."""
    return plan.reader is not None or (plan.decision.adapter is not None and request.route.model == AUTO_MODEL)


async def plan_again(request: ChatRequest, failed: ChatPlan, planner: Planner, exc: ModelNotServedError) -> ChatPlan:
    """The plan without the adapter the generator could not serve: the base model reads in the grounded
    reader's place; the router routes again without a chosen adapter, its reason saying so."""
    if failed.reader is not None:
        assert failed.payload is not None
        failed.tutorbook["fallback"] = {"from_reader": failed.reader.name, "because": exc.code}
        failed.tutorbook.pop("reader", None)
        failed.payload = {**failed.payload, "model": planner.config.policy.base_model}
        failed.reader = None
        return failed
    assert failed.decision.adapter is not None
    name = failed.decision.adapter.name
    planner.metrics.adapter_fallbacks.labels(adapter=name).inc()
    remaining = AdapterSnapshot(
        {other: adapter for other, adapter in request.adapters.active.items() if other != name},
        {other: state for other, state in request.adapters.states.items() if other != name},
        request.adapters.catalog,
    )
    plan = await plan_chat(request, planner, adapters=remaining)
    plan.tutorbook["reason"] = f"adapter {exc.model} is not served by the generator; {plan.tutorbook['reason']}"
    plan.tutorbook["fallback"] = {"from_adapter": name, "because": exc.code}
    return plan


def remembered_small_talk(
    route: RouteRequest, question: str, memory: SmallTalkMemory, policy: RoutePolicy, failure: ServiceError
) -> RouteDecision | None:
    """Plain prompting for an ``auto`` request the memory knows as small talk; None: nothing to go on."""
    if route.model != AUTO_MODEL or route.hint is not None:
        return None
    score = memory.recall(question)
    if score is None:
        return None
    seen = "is one of its conversation examples" if score == EXAMPLE_SCORE else f"matched them at {score:.2f} before"
    reason = (
        f"the retriever is unavailable ({failure.code}); small talk recognised from the router's memory: "
        f"the question {seen}"
    )
    return RouteDecision(Route.PROMPT, confidence(score - policy.prompt_min_score), reason, rule=REMEMBERED_RULE)


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
