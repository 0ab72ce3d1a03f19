import pytest

from tutorbook_gateway.routing import (
    RetrievalSignals,
    Route,
    RoutePolicy,
    RouteRequest,
    RouteSignals,
    UnknownModelError,
    decide,
    needs_retrieval,
)

POLICY = RoutePolicy(base_model="base", rag_min_score=0.3)


def signals(*scores: float, topics: tuple[str, ...] = ()) -> RouteSignals:
    return RouteSignals(retrieval=RetrievalSignals(scores=scores, topics=topics))


@pytest.mark.parametrize(
    ("model", "route_signals", "route"),
    [
        ("auto", signals(0.71, 0.5), Route.RAG),
        ("auto", signals(0.30), Route.RAG),  # the threshold itself counts as relevant
        ("auto", signals(0.29, 0.1), Route.ABSTAIN),
        ("auto", signals(), Route.ABSTAIN),  # empty knowledge base
        ("auto", RouteSignals(), Route.ABSTAIN),
        ("base", RouteSignals(), Route.PROMPT),
        ("base", signals(0.9), Route.PROMPT),  # naming the base model forces prompting
    ],
)
def test_decide_picks_the_route(model: str, route_signals: RouteSignals, route: Route) -> None:
    assert decide(RouteRequest(model=model), route_signals, POLICY).route is route


def test_reason_names_the_score_and_threshold() -> None:
    decision = decide(RouteRequest("auto"), signals(0.2), POLICY)
    assert "0.20" in decision.reason and "0.30" in decision.reason


def test_abstain_suggests_distinct_closest_topics() -> None:
    decision = decide(RouteRequest("auto"), signals(0.2, 0.1, 0.1, 0.05, topics=("A", "A", "B", "C", "D")), POLICY)
    assert decision.suggestions == ("A", "B", "C")


def test_rag_confidence_is_the_top_score() -> None:
    assert decide(RouteRequest("auto"), signals(0.61234, 0.2), POLICY).confidence == pytest.approx(0.6123)


def test_unknown_model_is_refused() -> None:
    with pytest.raises(UnknownModelError):
        needs_retrieval(RouteRequest("gpt-9"), POLICY)


def test_only_auto_needs_retrieval() -> None:
    assert needs_retrieval(RouteRequest("auto"), POLICY)
    assert not needs_retrieval(RouteRequest("base"), POLICY)
