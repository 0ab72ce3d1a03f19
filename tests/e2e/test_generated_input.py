"""Generated input (schemathesis) against the real gateway and the real retriever, over real HTTP with
keys: for every operation of each OpenAPI schema, cases that fit it and cases that do not. Not one 5xx,
not one connection left unanswered. The long run (``make fuzz``, 500 of each per operation) is reported in
docs/reliability.md. Runs after every other e2e test (it writes odd documents into the shared stack)."""

import pytest

from tests.e2e.conftest import ADMIN_KEY, FUZZ_KEY
from tutorbook_devstack.fuzz import bearer, fuzz_service, print_reports
from tutorbook_devstack.stack import Stack

pytestmark = pytest.mark.e2e
CASES_PER_MODE = 50  # 100 cases per operation in make test (make fuzz: 1,000)


def test_the_gateway_answers_every_generated_request_below_500(stack: Stack, sample_knowledge_base: object) -> None:
    url = stack.config.gateway_url
    reports = fuzz_service(
        url,
        f"{url}/schema/openapi.json",
        lambda method, path: bearer(FUZZ_KEY if path == "/v1/chat/completions" else ADMIN_KEY),
        CASES_PER_MODE,
    )
    print_reports("gateway", reports)
    assert len(reports) >= 13 and all(report.cases for report in reports.values())  # every operation tried
    assert {name: report.failures for name, report in reports.items() if report.failures} == {}


def test_the_retriever_answers_every_generated_request_below_500(stack: Stack) -> None:
    url = stack.config.url(stack.config.retriever_port)
    reports = fuzz_service(
        url, f"{url}/schema/openapi.json", lambda *_: bearer(stack.config.internal_token), CASES_PER_MODE
    )
    print_reports("retriever", reports)
    assert reports and all(report.cases for report in reports.values())
    assert {name: report.failures for name, report in reports.items() if report.failures} == {}
