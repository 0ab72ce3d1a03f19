"""The router's decision table: every route, every client hint, adapter health, and the reasons."""

import pytest

from tutorbook_gateway.routing import (
    OFF_TOPIC,
    SMALL_TALK,
    AdapterState,
    RetrievalSignals,
    Route,
    RouteHintError,
    RoutePolicy,
    RouteRequest,
    RouteSignals,
    UnknownModelError,
    decide,
    route_request,
)

POLICY = RoutePolicy(
    base_model="base",
    rag_min_score=0.3,
    rag_agreement_band=0.04,
    adapter_min_score=0.45,
    adapter_margin=0.0,
    prompt_min_score=0.38,
    prompt_margin=0.05,
    off_topic_margin=0.0,
    max_adapter_errors=3,
)
TRIAGE = AdapterState("triage", 3, "classifier")
STYLE = AdapterState("style", 1, "generative", wants_context=True)
SICK = AdapterState("sick", 2, loaded=False)
FLAKY = AdapterState("flaky", 1, recent_errors=3)
ADAPTERS = {adapter.name: adapter for adapter in (TRIAGE, STYLE, SICK, FLAKY)}


def signals(
    *scores: float, matches: dict[str, float] | None = None, lexical: tuple[float | None, ...] = ()
) -> RouteSignals:
    topics = tuple(f"T{i}" for i in range(len(scores)))
    retrieval = RetrievalSignals(scores=scores, topics=topics, lexical_scores=lexical)
    return RouteSignals(retrieval=retrieval, route_matches=matches or {}, adapters=ADAPTERS)


def route_of(model: str, route_signals: RouteSignals, hint: str | None = None) -> tuple[Route, str | None]:
    decision = decide(route_request(model, hint, POLICY, ADAPTERS), route_signals, POLICY)
    return decision.route, decision.adapter.served_name if decision.adapter else None


@pytest.mark.parametrize(
    ("case", "model", "hint", "route_signals", "expected"),
    [
        ("relevant passage", "auto", None, signals(0.71, 0.5), (Route.RAG, None)),
        ("threshold counts", "auto", None, signals(0.30), (Route.RAG, None)),
        ("below threshold", "auto", None, signals(0.29, 0.1), (Route.ABSTAIN, None)),
        ("empty knowledge base", "auto", None, signals(), (Route.ABSTAIN, None)),
        ("no signals at all", "auto", None, RouteSignals(), (Route.ABSTAIN, None)),
        ("just under, dense+lexical agree", "auto", None, signals(0.27, 0.2, lexical=(9.0, 1.0)), (Route.RAG, None)),
        ("just under, they disagree", "auto", None, signals(0.27, 0.2, lexical=(1.0, 9.0)), (Route.ABSTAIN, None)),
        ("far under, they agree", "auto", None, signals(0.2, 0.1, lexical=(9.0, 1.0)), (Route.ABSTAIN, None)),
        ("small talk", "auto", None, signals(0.12, matches={SMALL_TALK: 0.6}), (Route.PROMPT, None)),
        ("small talk beats a passage", "auto", None, signals(0.35, matches={SMALL_TALK: 0.6}), (Route.PROMPT, None)),
        ("passage beats weak small talk", "auto", None, signals(0.5, matches={SMALL_TALK: 0.4}), (Route.RAG, None)),
        (
            "off-topic beats small talk",
            "auto",
            None,
            signals(0.1, matches={SMALL_TALK: 0.45, OFF_TOPIC: 0.6}),
            (Route.ABSTAIN, None),
        ),
        (
            "small talk beats off-topic",
            "auto",
            None,
            signals(0.1, matches={SMALL_TALK: 0.6, OFF_TOPIC: 0.45}),
            (Route.PROMPT, None),
        ),
        ("small talk under threshold", "auto", None, signals(0.1, matches={SMALL_TALK: 0.3}), (Route.ABSTAIN, None)),
        ("adapter match", "auto", None, signals(0.4, matches={"triage": 0.7}), (Route.ADAPTER, "triage@3")),
        ("adapter under threshold", "auto", None, signals(0.2, matches={"triage": 0.44}), (Route.ABSTAIN, None)),
        ("passage beats adapter", "auto", None, signals(0.75, matches={"triage": 0.7}), (Route.RAG, None)),
        ("adapter wanting context", "auto", None, signals(0.5, matches={"style": 0.8}), (Route.ADAPTER_RAG, "style@1")),
        ("wants context, none found", "auto", None, signals(0.1, matches={"style": 0.8}), (Route.ADAPTER, "style@1")),
        ("unloaded adapter skipped", "auto", None, signals(0.5, matches={"sick": 0.9}), (Route.RAG, None)),
        ("failing adapter skipped", "auto", None, signals(0.5, matches={"flaky": 0.9}), (Route.RAG, None)),
        (
            "next healthy adapter",
            "auto",
            None,
            signals(0.4, matches={"sick": 0.9, "triage": 0.6}),
            (Route.ADAPTER, "triage@3"),
        ),
        ("unknown adapter ignored", "auto", None, signals(0.5, matches={"gone": 0.9}), (Route.RAG, None)),
        ("base model", "base", None, RouteSignals(), (Route.PROMPT, None)),
        ("base model ignores passages", "base", None, signals(0.9), (Route.PROMPT, None)),
        ("adapter by name", "triage", None, RouteSignals(adapters=ADAPTERS), (Route.ADAPTER, "triage@3")),
        ("adapter pinned version", "triage@2", None, RouteSignals(adapters=ADAPTERS), (Route.ADAPTER, "triage@2")),
        ("named adapter wants context", "style", None, signals(0.6), (Route.ADAPTER_RAG, "style@1")),
        ("named sick adapter still served", "sick", None, RouteSignals(adapters=ADAPTERS), (Route.ADAPTER, "sick@2")),
        ("hint rag on auto", "auto", "rag", signals(0.1, matches={SMALL_TALK: 0.9}), (Route.RAG, None)),
        ("hint prompt on auto", "auto", "prompt", RouteSignals(), (Route.PROMPT, None)),
        ("hint abstain on auto", "auto", "abstain", RouteSignals(), (Route.ABSTAIN, None)),
        ("hint rag on base", "base", "rag", signals(0.6), (Route.RAG, None)),
        ("hint adapter+rag on adapter", "triage", "adapter+rag", signals(0.6), (Route.ADAPTER_RAG, "triage@3")),
        (
            "hint adapter on context adapter",
            "style",
            "adapter",
            RouteSignals(adapters=ADAPTERS),
            (Route.ADAPTER, "style@1"),
        ),
    ],
)
def test_decision_table(
    case: str, model: str, hint: str | None, route_signals: RouteSignals, expected: tuple[Route, str | None]
) -> None:
    assert route_of(model, route_signals, hint) == expected, case


@pytest.mark.parametrize(
    ("model", "hint", "wanted"),
    [
        ("auto", None, True),
        ("base", None, False),
        ("triage", None, False),
        ("style", None, True),  # wants context
        ("auto", "prompt", False),
        ("auto", "abstain", False),
        ("base", "rag", True),
        ("triage", "adapter+rag", True),
    ],
)
def test_only_what_needs_passages_retrieves(model: str, hint: str | None, wanted: bool) -> None:
    assert route_request(model, hint, POLICY, ADAPTERS).retrieves is wanted


@pytest.mark.parametrize("model", ["gpt-9", "triage@x", "nope@1"])
def test_unknown_model_is_refused(model: str) -> None:
    with pytest.raises(UnknownModelError):
        route_request(model, None, POLICY, ADAPTERS)


@pytest.mark.parametrize(
    ("model", "hint"), [("auto", "fastest"), ("auto", "adapter"), ("base", "adapter+rag"), ("triage", "rag")]
)
def test_impossible_hints_are_refused(model: str, hint: str) -> None:
    with pytest.raises(RouteHintError):
        route_request(model, hint, POLICY, ADAPTERS)


def test_reasons_name_scores_and_thresholds() -> None:
    below = decide(RouteRequest("auto"), signals(0.2), POLICY)
    assert "0.20" in below.reason and "0.30" in below.reason
    adapter = decide(RouteRequest("auto"), signals(0.4, matches={"triage": 0.7}), POLICY)
    assert "'triage'" in adapter.reason and "0.70" in adapter.reason and "0.40" in adapter.reason
    skipped = decide(RouteRequest("auto"), signals(0.5, matches={"sick": 0.9}), POLICY)
    assert "'sick' is not loaded" in skipped.reason
    flaky = decide(RouteRequest("auto"), signals(0.5, matches={"flaky": 0.9}), POLICY)
    assert "failed 3 recent requests" in flaky.reason
    chatty = decide(RouteRequest("auto"), signals(0.1, matches={SMALL_TALK: 0.7}), POLICY)
    assert chatty.reason.startswith("small talk") and "0.70" in chatty.reason


def test_abstain_suggests_distinct_closest_topics() -> None:
    retrieval = RetrievalSignals(scores=(0.2, 0.1, 0.1, 0.05, 0.01), topics=("A", "A", "B", "C", "D"))
    decision = decide(RouteRequest("auto"), RouteSignals(retrieval=retrieval), POLICY)
    assert decision.suggestions == ("A", "B", "C")


def test_confidence_grows_with_the_distance_from_the_boundary() -> None:
    def confidence(score: float) -> float:
        return decide(RouteRequest("auto"), signals(score), POLICY).confidence

    assert confidence(0.31) < confidence(0.4) < confidence(0.6) == 1.0
    assert confidence(0.31) >= 0.5 and confidence(0.05) > 0.5  # a clear abstain is confident too


def test_retrieval_margin_and_agreement() -> None:
    retrieval = RetrievalSignals(scores=(0.5, 0.7, 0.2), lexical_scores=(None, 4.0, 1.0))
    assert retrieval.top_score == 0.7
    assert retrieval.margin == pytest.approx(0.2)
    assert retrieval.agreement
    assert not RetrievalSignals(scores=(0.5, 0.7), lexical_scores=(4.0, None)).agreement
    assert not RetrievalSignals(scores=(0.5,), lexical_scores=()).agreement
