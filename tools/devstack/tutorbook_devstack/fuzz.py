"""Generated input against a running service's OpenAPI schema (schemathesis): for every operation, cases
that fit the schema and cases that do not, sent over real HTTP with a key; every answer must be below 500
and every connection must be answered. ``python -m tutorbook_devstack.fuzz`` starts its own stack (ports
18510-18513) and runs the long version; the e2e and integration tests run a short one.
"""

import argparse
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.result import Err

# Chat cases ask for a few tokens at most: the point is the input, not the generation.
FUZZ_MAX_TOKENS = 4


@dataclass
class OperationReport:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # 5xx answers and dropped connections
    modes_without_cases: list[str] = field(default_factory=list)  # e.g. no way to break a schema without inputs


def few_tokens(body: Any) -> Any:
    """A chat body asks for at most a few tokens (``max_tokens`` and ``max_completion_tokens``)."""
    if not (isinstance(body, dict) and "messages" in body):
        return body
    bounded = dict(body)
    for field_name in ("max_tokens", "max_completion_tokens"):
        wanted = body.get(field_name)
        if isinstance(wanted, int) and not isinstance(wanted, bool) and wanted > FUZZ_MAX_TOKENS:
            bounded[field_name] = FUZZ_MAX_TOKENS
    if bounded.get("max_tokens") is None and bounded.get("max_completion_tokens") is None:
        bounded["max_tokens"] = FUZZ_MAX_TOKENS
    return bounded


def fuzz_service(
    base_url: str,
    schema_url: str,
    headers_for: Callable[[str, str], dict[str, str]],
    cases_per_mode: int,
    skip: Callable[[str, str], bool] = lambda method, path: False,
) -> dict[str, OperationReport]:
    """Every operation of the schema at ``schema_url``, positive then negative cases; ``headers_for(method,
    path)`` gives the key each operation is called with."""
    schema = schemathesis.openapi.from_url(schema_url, headers=headers_for("GET", "/schema"))
    reports: dict[str, OperationReport] = {}
    with requests.Session() as session:
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()  # a schema the service publishes must be valid
            operation = result.ok()
            if skip(operation.method.upper(), operation.path):
                continue
            report = reports.setdefault(f"{operation.method.upper()} {operation.path}", OperationReport())
            headers = headers_for(operation.method.upper(), operation.path)
            check = partial(send, base_url=base_url, session=session, headers=headers, report=report)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if not run_cases(operation, mode, cases_per_mode, check):
                    report.modes_without_cases.append(str(mode))
    return reports


def run_cases(operation: Any, mode: GenerationMode, count: int, check: Callable[[Any], None]) -> bool:
    """Up to ``count`` cases; False when the schema allows no case of this mode at all."""

    @settings(
        max_examples=count, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def each(case: Any) -> None:
        check(case)

    try:
        each()
    except Unsatisfiable:
        return False
    return True


def send(case: Any, base_url: str, session: requests.Session, headers: dict[str, str], report: OperationReport) -> None:
    case.body = few_tokens(case.body)
    report.cases += 1
    try:
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=150)
    except requests.RequestException as error:
        report.failures.append(f"no answer: {error!r} for {case.as_curl_command()[:300]}")
        return
    report.statuses[response.status_code] += 1
    if response.status_code >= 500:
        report.failures.append(f"{response.status_code} {response.text[:200]} for {case.as_curl_command()[:300]}")


def print_reports(service: str, reports: dict[str, OperationReport]) -> None:
    print(f"\n{service}: operation, cases, statuses, failures")
    for name, report in reports.items():
        statuses = " ".join(f"{status}:{count}" for status, count in sorted(report.statuses.items()))
        without = f"  (no {', '.join(report.modes_without_cases)} cases)" if report.modes_without_cases else ""
        print(f"  {name:<40}{report.cases:>6}  {statuses}  failures: {len(report.failures)}{without}")
        for failure in report.failures[:3]:
            print(f"      {failure}")


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def fuzz_stack(gateway_url: str, retriever_url: str, user: str, admin: str, internal: str, cases: int) -> int:
    """The gateway (chat with a user key, everything else with an admin key) and the retriever (with the
    internal token); returns the number of failures."""
    gateway = fuzz_service(
        gateway_url,
        f"{gateway_url}/schema/openapi.json",
        lambda method, path: bearer(user if path == "/v1/chat/completions" else admin),
        cases,
    )
    retriever = fuzz_service(retriever_url, f"{retriever_url}/schema/openapi.json", lambda *_: bearer(internal), cases)
    print_reports("gateway", gateway)
    print_reports("retriever", retriever)
    return sum(len(report.failures) for report in [*gateway.values(), *retriever.values()])


def main() -> None:
    from tutorbook_devstack.stack import StackConfig, ingest_folder, running_stack

    parser = argparse.ArgumentParser(prog="python -m tutorbook_devstack.fuzz", description=__doc__)
    parser.add_argument("--cases", type=int, default=500, help="per operation and mode (positive, negative)")
    args = parser.parse_args()
    user, admin = "fuzz-user-key-0123456789", "fuzz-admin-key-0123456789"
    samples = Path(__file__).resolve().parents[3] / "samples" / "knowledge_base"
    with tempfile.TemporaryDirectory(prefix="tutorbook-fuzz-") as tmp:
        config = StackConfig(
            data_dir=Path(tmp), api_keys=(user,), admin_keys=(admin,), model_cache_dir=Path("data/models").resolve(),
            gateway_port=18510, retriever_port=18511, generator_port=18512, redis_port=18513, redis_persistent=False,
            extra_env={"TUTORBOOK_GATEWAY_LIMITS__REQUESTS_PER_MINUTE": "1000000"},
        )  # fmt: skip
        with running_stack(config) as stack:
            ingest_folder(config.gateway_url, admin, samples)
            retriever_url = config.url(config.retriever_port)
            failures = fuzz_stack(config.gateway_url, retriever_url, user, admin, config.internal_token, args.cases)
            print(f"\n{failures} failures (5xx or no answer)")
            for name in ("gateway", "retriever"):
                stack.services[name].stop()
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
