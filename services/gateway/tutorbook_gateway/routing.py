"""The router: a pure function from a request and its signals to a decision, with a reason people can read.

Routes, cheapest first: ``abstain`` and ``prompt`` need no retrieval; ``rag`` answers from retrieved
passages; ``adapter`` sends the request to a fine-tuned LoRA adapter; ``adapter+rag`` gives an adapter
whose card says it wants context the passages too.

Signals: the retrieval scores (best dense score, its margin over the next passage, whether dense and
lexical search agree on the best passage), the best route-example match of every adapter and of the
small-talk examples, the conversation so far, client hints (``model``, ``tutorbook.route``) and adapter
health. With ``"model": "auto"`` the rules are, in order:

1. an adapter whose best route example matches at least ``adapter_min_score`` and at least as well as
   the best passage (plus ``adapter_margin``) wins; a sick adapter (not loaded, or too many recent
   errors) is skipped and the reason says so;
2. a passage scoring at least ``rag_min_score`` means ``rag`` (small talk that matches its examples
   better than any passage by ``prompt_margin`` is left to rule 3); a passage just under the threshold
   still counts when dense and lexical search agree on it (``rag_agreement_band``);
3. small talk matching its examples at least ``prompt_min_score`` (and at least as well as the
   off-topic examples, plus ``off_topic_margin``) means ``prompt``;
4. otherwise ``abstain``, with the closest topics as suggestions.
"""

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from tutorbook_adapter_format.layout import VERSION_SEPARATOR

AUTO_MODEL = "auto"
# The router's own route-example sets (":" is not allowed in adapter names, so they cannot clash).
SMALL_TALK = "tutorbook:small-talk"  # general conversation: plain prompting
OFF_TOPIC = "tutorbook:off-topic"  # requests no product assistant should take on: abstain


class Route(enum.StrEnum):
    RAG = "rag"
    ADAPTER = "adapter"
    ADAPTER_RAG = "adapter+rag"
    PROMPT = "prompt"
    ABSTAIN = "abstain"


@dataclass(frozen=True)
class AdapterState:
    """What the router knows about the active version of an adapter."""

    name: str
    version: int
    task_type: str = "generative"  # or "classifier"
    wants_context: bool = False
    loaded: bool = True
    recent_errors: int = 0

    @property
    def served_name(self) -> str:
        """The LoRA name the generator knows this version by."""
        return f"{self.name}{VERSION_SEPARATOR}{self.version}"


@dataclass(frozen=True)
class RoutePolicy:
    """The router's thresholds. Their values live in one place: the gateway's settings group ``router``
    (:class:`~tutorbook_gateway.settings.RouterSettings`, which explains each one), turned into this by
    :func:`~tutorbook_gateway.wiring.route_policy`."""

    base_model: str
    rag_min_score: float
    rag_agreement_band: float
    adapter_min_score: float
    adapter_margin: float
    prompt_min_score: float
    prompt_margin: float
    off_topic_margin: float
    max_adapter_errors: int
    reader: str | None = None  # the grounded reader: an adapter that writes RAG answers for "auto"


@dataclass(frozen=True)
class RouteRequest:
    """What a request asks of the router, resolved once (:func:`route_request`): the model it names, its
    route hint, and the adapter it names (a pinned version resolved), checked before any signal is read."""

    model: str
    hint: Route | None = None  # the body's ``tutorbook.route``
    adapter: AdapterState | None = None  # None: "auto" or the base model

    @property
    def retrieves(self) -> bool:
        """Whether the router wants retrieval signals for it (retrieval is the expensive signal)."""
        if self.hint is not None:
            return self.hint in (Route.RAG, Route.ADAPTER_RAG)
        if self.adapter is not None:
            return self.adapter.wants_context
        return self.model == AUTO_MODEL


@dataclass(frozen=True)
class RetrievalSignals:
    scores: tuple[float, ...]  # dense (cosine) relevance of each hit, in the retriever's rank order
    topics: tuple[str, ...] = ()  # titles of the hits, in rank order, for abstain suggestions
    lexical_scores: tuple[float | None, ...] = ()  # BM25 score of each hit (None: not a lexical hit)

    @property
    def top_score(self) -> float | None:
        return max(self.scores) if self.scores else None

    @property
    def margin(self) -> float:
        """How far the best passage is ahead of the next one (0 with fewer than two)."""
        ordered = sorted(self.scores, reverse=True)
        return ordered[0] - ordered[1] if len(ordered) > 1 else 0.0

    @property
    def agreement(self) -> bool:
        """Dense and lexical search both rank the same passage best."""
        lexical = [score if score is not None else -1.0 for score in self.lexical_scores]
        if not self.scores or len(lexical) != len(self.scores) or max(lexical) <= 0:
            return False
        return self.scores.index(max(self.scores)) == lexical.index(max(lexical))


@dataclass(frozen=True)
class RouteSignals:
    retrieval: RetrievalSignals | None = None
    route_matches: Mapping[str, float] = field(default_factory=dict)  # adapter (or SMALL_TALK) -> best match
    adapters: Mapping[str, AdapterState] = field(default_factory=dict)  # active adapters by name


@dataclass(frozen=True)
class RouteDecision:
    route: Route
    confidence: float
    reason: str
    suggestions: tuple[str, ...] = field(default=())
    adapter: AdapterState | None = None
    rule: str = ""  # which rule decided, from a small fixed set (a metric label; the reason is free text)
    reader: AdapterState | None = None  # the adapter that writes a RAG answer in the base model's place


class UnknownModelError(ValueError):
    """The request names a model that is neither ``auto`` nor one the gateway serves."""


class RouteHintError(ValueError):
    """``tutorbook.route`` asks for a route that does not exist or cannot serve this model."""


def resolve_adapter(model: str, adapters: Mapping[str, AdapterState]) -> AdapterState | None:
    """``name`` is the active version; ``name@3`` pins version 3 (it must be known to the generator)."""
    name, _, version = model.partition(VERSION_SEPARATOR)
    adapter = adapters.get(name)
    if adapter is None or not version:
        return adapter
    if not (version.isascii() and version.isdigit()):
        raise UnknownModelError(model)
    return AdapterState(adapter.name, int(version), adapter.task_type, adapter.wants_context)


def hinted_route(hint: str | None) -> Route | None:
    if hint is None:
        return None
    try:
        return Route(hint)
    except ValueError as exc:
        raise RouteHintError(f"tutorbook.route must be one of {[route.value for route in Route]}") from exc


def refuse_conflicting_hint(hint: Route | None, adapter: AdapterState | None) -> None:
    """A route hint the named model cannot serve: adapter routes need an adapter, and an adapter serves
    only adapter routes."""
    if adapter is None and hint in (Route.ADAPTER, Route.ADAPTER_RAG):
        raise RouteHintError(f'tutorbook.route {hint.value!r} needs "model" to name an adapter')
    if adapter is not None and hint in (Route.RAG, Route.PROMPT, Route.ABSTAIN):
        raise RouteHintError(f"tutorbook.route {hint.value!r} cannot be served by the adapter {adapter.name!r}")


def route_request(
    model: str, hint: str | None, policy: RoutePolicy, adapters: Mapping[str, AdapterState]
) -> RouteRequest:
    """The request as the router reads it. Raises for one no signals could route: an unknown model (or
    pinned version), a route hint that does not exist or that the named model cannot serve."""
    route = hinted_route(hint)
    adapter = None
    if model not in (AUTO_MODEL, policy.base_model):
        adapter = resolve_adapter(model, adapters)
        if adapter is None:
            raise UnknownModelError(model)
    refuse_conflicting_hint(route, adapter)
    return RouteRequest(model, route, adapter)


def decide(request: RouteRequest, signals: RouteSignals, policy: RoutePolicy) -> RouteDecision:
    if request.adapter is not None:
        return decide_for_adapter(request.adapter, request.hint, signals)
    if request.model == AUTO_MODEL and request.hint is None:
        decision = decide_auto(signals, policy)
    else:
        decision = decide_for_base(request.hint, signals, policy)
    return with_reader(decision, signals.adapters, policy) if request.model == AUTO_MODEL else decision


def with_reader(decision: RouteDecision, adapters: Mapping[str, AdapterState], policy: RoutePolicy) -> RouteDecision:
    """A RAG answer for "auto" is written by the grounded reader when one is set, active, generative and
    healthy (a request that names the base model gets the base model)."""
    reader = adapters.get(policy.reader) if policy.reader else None
    if decision.route is not Route.RAG or reader is None or reader.task_type != "generative":
        return decision
    return dataclasses.replace(decision, reader=reader) if healthy(reader, policy) is None else decision


def decide_for_base(hint: Route | None, signals: RouteSignals, policy: RoutePolicy) -> RouteDecision:
    if hint is Route.RAG:
        return with_passages(Route.RAG, "the client asked for rag", signals, rule="hint")
    if hint is Route.ABSTAIN:
        return RouteDecision(Route.ABSTAIN, 1.0, "the client asked for abstain", rule="hint")
    if hint is Route.PROMPT:
        return RouteDecision(Route.PROMPT, 1.0, "the client asked for prompt", rule="hint")
    return RouteDecision(Route.PROMPT, 1.0, f"the request names the base model {policy.base_model!r}", rule="model")


def decide_for_adapter(adapter: AdapterState, hint: Route | None, signals: RouteSignals) -> RouteDecision:
    forced = f"the request names the adapter {adapter.served_name!r}"
    rule = "model" if hint is None else "hint"
    if hint is Route.ADAPTER_RAG or (hint is None and adapter.wants_context):
        return with_passages(Route.ADAPTER_RAG, forced, signals, adapter, rule)
    return RouteDecision(Route.ADAPTER, 1.0, forced, adapter=adapter, rule=rule)


def with_passages(
    route: Route, why: str, signals: RouteSignals, adapter: AdapterState | None = None, rule: str = "hint"
) -> RouteDecision:
    top = signals.retrieval.top_score if signals.retrieval else None
    found = "no passage was found" if top is None else f"the best passage scored {top:.2f}"
    return RouteDecision(route, 1.0, f"{why}; {found}", adapter=adapter, rule=rule)


def confidence(gap: float) -> float:
    """How sure a decision is, from how far its deciding score cleared the boundary: 0.5 at it, 1.0 at +0.25."""
    return round(min(1.0, max(0.0, 0.5 + 2 * gap)), 4)


def healthy(adapter: AdapterState, policy: RoutePolicy) -> str | None:
    """None when the adapter can take traffic, else why not."""
    if not adapter.loaded:
        return f"adapter {adapter.name!r} is not loaded"
    if adapter.recent_errors >= policy.max_adapter_errors:
        return f"adapter {adapter.name!r} failed {adapter.recent_errors} recent requests"
    return None


def best_adapter(signals: RouteSignals, policy: RoutePolicy) -> tuple[AdapterState | None, float, list[str]]:
    """The best-matching healthy adapter, its score, and why better-matching ones were skipped."""
    skipped: list[str] = []
    ranked = sorted(signals.route_matches.items(), key=lambda item: item[1], reverse=True)
    for name, score in ranked:
        adapter = signals.adapters.get(name)
        if adapter is None or score < policy.adapter_min_score:
            continue
        problem = healthy(adapter, policy)
        if problem is None:
            return adapter, score, skipped
        skipped.append(problem)
    return None, 0.0, skipped


def adapter_decision(
    adapter: AdapterState, adapter_score: float, passage: float, note: str, policy: RoutePolicy
) -> RouteDecision:
    """Rule 1: the adapter's route examples match, ahead of the best passage (with it, if it wants context)."""
    gap = min(adapter_score - policy.adapter_min_score, adapter_score - passage - policy.adapter_margin)
    reason = (
        f"the request matches adapter {adapter.name!r} at {adapter_score:.2f} (threshold "
        f"{policy.adapter_min_score:.2f}), ahead of the best passage at {max(passage, 0):.2f}{note}"
    )
    if adapter.wants_context and passage >= policy.rag_min_score:
        reason += "; it wants context"
        return RouteDecision(Route.ADAPTER_RAG, confidence(gap), reason, adapter=adapter, rule="adapter_match")
    return RouteDecision(Route.ADAPTER, confidence(gap), reason, adapter=adapter, rule="adapter_match")


def decide_auto(signals: RouteSignals, policy: RoutePolicy) -> RouteDecision:
    retrieval = signals.retrieval or RetrievalSignals(scores=())
    top = retrieval.top_score
    passage = -1.0 if top is None else top
    small_talk = signals.route_matches.get(SMALL_TALK, 0.0)
    off_topic = signals.route_matches.get(OFF_TOPIC, 0.0)
    adapter, adapter_score, skipped = best_adapter(signals, policy)
    note = f" ({'; '.join(skipped)})" if skipped else ""

    if adapter is not None and adapter_score >= passage + policy.adapter_margin:
        return adapter_decision(adapter, adapter_score, passage, note, policy)

    relevant = passage >= policy.rag_min_score or (
        passage >= policy.rag_min_score - policy.rag_agreement_band and retrieval.agreement
    )
    chatty = small_talk >= policy.prompt_min_score and small_talk >= passage + policy.prompt_margin
    if relevant and not chatty:
        agreed = ", dense and lexical search agree" if retrieval.agreement else ""
        return RouteDecision(
            Route.RAG,
            confidence(passage - policy.rag_min_score + (0.05 if retrieval.agreement else 0.0)),
            f"the best passage scored {passage:.2f} (threshold {policy.rag_min_score:.2f}, "
            f"margin {retrieval.margin:.2f}{agreed}){note}",
            rule="relevant_passage" if passage >= policy.rag_min_score else "search_agreement",
        )
    if small_talk >= policy.prompt_min_score and small_talk >= off_topic + policy.off_topic_margin:
        return RouteDecision(
            Route.PROMPT,
            confidence(min(small_talk - policy.prompt_min_score, small_talk - passage)),
            f"small talk: it matches the conversation examples at {small_talk:.2f} (threshold "
            f"{policy.prompt_min_score:.2f}) and the best passage only at {max(passage, 0):.2f}{note}",
            rule="small_talk",
        )
    if top is None:
        return RouteDecision(
            Route.ABSTAIN, 1.0, f"the knowledge base has no passage for this question{note}", rule="empty_index"
        )
    return RouteDecision(
        Route.ABSTAIN,
        confidence(policy.rag_min_score - passage),
        f"the best passage scored {passage:.2f}, below the relevance threshold {policy.rag_min_score:.2f}, "
        f"and nothing else matched{note}",
        suggestions=tuple(dict.fromkeys(retrieval.topics))[:3],
        rule="off_topic" if off_topic >= small_talk and off_topic >= policy.prompt_min_score else "nothing_matched",
    )
