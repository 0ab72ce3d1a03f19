"""The routing evaluation: real embedder, real embedded Qdrant, the gateway's own router and thresholds."""

import pytest

from tests.conftest import REPO_ROOT, SAMPLES
from tutorbook_evals.routing import evaluate_routing, format_report
from tutorbook_evals.routing_set import ROUTES, default_eval_data, routing_cases
from tutorbook_retriever.clients.embedder import SentenceTransformerEmbedder


def test_router_routes_at_least_95_percent_of_the_test_split(embedder: SentenceTransformerEmbedder) -> None:
    eval_data = default_eval_data(REPO_ROOT)
    if eval_data is None:
        pytest.skip("clinc150 not found: set TUTORBOOK_EVAL_DATA to the eval-data folder")
    cases = routing_cases(SAMPLES, eval_data / "clinc150", "test")
    assert {case.expected for case in cases} == set(ROUTES) and len(cases) > 200
    report = evaluate_routing(cases, SAMPLES, embedder)
    printed = format_report(report, "test")
    print(printed)
    assert report.accuracy >= 0.95, printed
    assert "confusion matrix" in printed and "router decision" in printed
