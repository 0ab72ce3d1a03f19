"""The router: a pure function from a request and its signals to a decision, with a reason people can read.

This is the walking skeleton's router: ``"model": "auto"`` goes to RAG when retrieval found a relevant
passage and abstains otherwise; naming the base model asks it directly (``prompt``). The route set, the
signals and the policy are the shapes the full router fills in.
"""

import enum
from dataclasses import dataclass, field

AUTO_MODEL = "auto"


class Route(enum.StrEnum):
    RAG = "rag"
    PROMPT = "prompt"
    ABSTAIN = "abstain"


@dataclass(frozen=True)
class RoutePolicy:
    base_model: str
    rag_min_score: float


@dataclass(frozen=True)
class RouteRequest:
    model: str


@dataclass(frozen=True)
class RetrievalSignals:
    scores: tuple[float, ...]  # dense (cosine) relevance of each hit, in the retriever's rank order
    topics: tuple[str, ...] = ()  # titles of the hits, in rank order, for abstain suggestions

    @property
    def top_score(self) -> float | None:
        return max(self.scores) if self.scores else None


@dataclass(frozen=True)
class RouteSignals:
    retrieval: RetrievalSignals | None = None


@dataclass(frozen=True)
class RouteDecision:
    route: Route
    confidence: float
    reason: str
    suggestions: tuple[str, ...] = field(default=())


class UnknownModelError(ValueError):
    """The request names a model that is neither ``auto`` nor one the gateway serves."""


def needs_retrieval(request: RouteRequest, policy: RoutePolicy) -> bool:
    """Whether the router wants retrieval signals for this request (retrieval is the expensive signal)."""
    if request.model == AUTO_MODEL:
        return True
    if request.model == policy.base_model:
        return False
    raise UnknownModelError(request.model)


def decide(request: RouteRequest, signals: RouteSignals, policy: RoutePolicy) -> RouteDecision:
    if not needs_retrieval(request, policy):
        return RouteDecision(Route.PROMPT, 1.0, f"the request names the base model {policy.base_model!r}")
    retrieval = signals.retrieval
    if retrieval is None or retrieval.top_score is None:
        return RouteDecision(Route.ABSTAIN, 1.0, "the knowledge base has no passage for this question")
    top = retrieval.top_score
    if top >= policy.rag_min_score:
        return RouteDecision(
            Route.RAG,
            round(top, 4),
            f"the best passage scored {top:.2f}, at or above the relevance threshold {policy.rag_min_score:.2f}",
        )
    return RouteDecision(
        Route.ABSTAIN,
        round(1.0 - top, 4),
        f"the best passage scored {top:.2f}, below the relevance threshold {policy.rag_min_score:.2f}",
        suggestions=tuple(dict.fromkeys(retrieval.topics))[:3],
    )
