"""The test that proves the dashboards: a real Prometheus (Debian's package) scrapes the real stack while
traffic goes through every route; then every panel query of every dashboard, and every alert rule, is
evaluated through Prometheus's HTTP API. The gateway's counters must match the traffic sent, and a panel
whose query returns nothing fails."""

import json
import shutil
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO_ROOT, free_port, wait_until_answering
from tests.e2e.conftest import API_KEY
from tutorbook_devstack.stack import Stack

pytestmark = pytest.mark.e2e
DASHBOARDS = REPO_ROOT / "deploy" / "grafana" / "dashboards"
ALERTS = REPO_ROOT / "deploy" / "prometheus" / "alerts.yml"
USER = {"Authorization": f"Bearer {API_KEY}"}
RATE_WINDOW = "1m"  # what Grafana's $__rate_interval becomes here (1 s scrapes)


@pytest.fixture(scope="module")
def prometheus(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed (make test installs the Debian package)")
    folder = tmp_path_factory.mktemp("prometheus")
    config = stack.config
    jobs = {"gateway": config.gateway_port, "retriever": config.retriever_port, "generator": config.generator_port}
    settings = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {"job_name": f"tutorbook-{name}", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
            for name, port in jobs.items()
        ],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(settings))
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{url}/-/ready", timeout_seconds=30)
        yield url
    finally:
        process.terminate()
        process.wait(20)


def drive_traffic(gateway_url: str) -> None:
    """Every route, a stream, a cache hit, a refused key and a rating."""

    def chat(question: str, **extra: object) -> httpx.Response:
        body = {"model": "auto", "messages": [{"role": "user", "content": question}], "max_tokens": 16, **extra}
        return httpx.post(f"{gateway_url}/v1/chat/completions", json=body, headers=USER, timeout=120)

    answered = chat("How long is the warranty on Brightleaf products?")
    chat("How long is the warranty on Brightleaf products?")  # a cache hit
    chat("hello there, how are you today?")
    chat("What is the capital of Mongolia?")
    body = {"model": "auto", "messages": [{"role": "user", "content": "How do I descale the espresso machine?"}],
            "max_tokens": 16, "stream": True}  # fmt: skip
    with httpx.stream("POST", f"{gateway_url}/v1/chat/completions", json=body, headers=USER, timeout=120) as stream:
        for _ in stream.iter_lines():
            pass
    httpx.post(f"{gateway_url}/v1/chat/completions", json={}, headers={"Authorization": "Bearer wrong"})
    rating = {"response_id": answered.json()["id"], "rating": "up"}
    assert httpx.post(f"{gateway_url}/v1/feedback", json=rating, headers=USER).status_code == 201


def gateway_counts(gateway_url: str) -> dict[str, float]:
    """The gateway's own counters, read from its /metrics: answers with 200, router decisions, cache hits,
    refused keys, ratings."""
    families = {family.name: family for family in text_string_to_metric_families(
        httpx.get(f"{gateway_url}/metrics", timeout=10).text)}  # fmt: skip

    def total(name: str, **labels: str) -> float:
        family = families.get(name)
        samples = family.samples if family else []
        return sum(
            sample.value
            for sample in samples
            if sample.name.endswith("_total") and all(sample.labels.get(k) == v for k, v in labels.items())
        )

    return {
        "answered": total("tutorbook_gateway_chat_requests", status="200"),
        "decided": total("tutorbook_gateway_router_decisions"),
        "cache_hits": total("tutorbook_gateway_cache_lookups", result="hit"),
        "bad_keys": total("tutorbook_gateway_auth_failures", reason="invalid_api_key"),
        "ratings": total("tutorbook_gateway_feedback"),
    }


DURING_A_ROLLOUT = "Adapter rollouts"  # the panels with data only while one is under way


def query(prometheus: str, expr: str) -> list[object]:
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=30)
    body = response.json()
    assert body["status"] == "success", f"{expr}: {body.get('error')}"
    result: list[object] = body["data"]["result"]
    return result


def panel_queries() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                found.append(
                    (dashboard["title"], panel["title"], target["expr"].replace("$__rate_interval", RATE_WINDOW))
                )
    return found


def test_every_panel_and_alert_evaluates_on_live_data(
    prometheus: str, gateway_url: str, sample_knowledge_base: object
) -> None:
    before = gateway_counts(gateway_url)
    drive_traffic(gateway_url)
    after = gateway_counts(gateway_url)
    counted = {name: after[name] - before[name] for name in after}
    # What drive_traffic sent: 5 answers, each decided by the router or read from the cache (one at least
    # is a hit: an earlier test may have asked another of them already), a refused key, a rating.
    assert counted["answered"] == 5 and counted["decided"] + counted["cache_hits"] == 5, counted
    assert counted["cache_hits"] >= 1 and counted["bad_keys"] == 1 and counted["ratings"] == 1, counted

    queries = panel_queries()
    assert len(queries) >= 30

    def missing() -> list[str]:
        """Panels without data, and the gateway's count if Prometheus has not scraped all of it yet. A panel
        that has data only while a rollout is under way is evaluated (Prometheus accepts its queries), not
        asked for data: tests/e2e/test_rollouts.py checks the series it reads."""
        empty = [
            f"{dashboard} / {panel}: {expr}"
            for dashboard, panel, expr in queries
            if not query(prometheus, expr) and not panel.startswith(DURING_A_ROLLOUT)
        ]
        found = query(prometheus, 'sum(tutorbook_gateway_chat_requests_total{status="200"})')
        scraped = float(found[0]["value"][1]) if found else 0.0  # type: ignore[index]
        return empty + (
            [f"answers counted: {scraped}, not {after['answered']}"] if scraped != after["answered"] else []
        )

    # Wait until Prometheus has scraped every service since the traffic (never a fixed wait); what is still
    # missing at the deadline is a panel without data.
    deadline = time.monotonic() + 30
    still = missing()
    while still and time.monotonic() < deadline:
        time.sleep(1)
        still = missing()
    assert not still, "panels without data:\n" + "\n".join(still)

    rules = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    for rule in rules:
        query(prometheus, rule["expr"])  # valid and evaluable now
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        loaded = httpx.get(f"{prometheus}/api/v1/rules").json()["data"]["groups"]
        states = {rule["name"]: rule for group in loaded for rule in group["rules"]}
        if len(states) == len(rules) and all(rule["lastEvaluation"][:4] != "0001" for rule in states.values()):
            break
        time.sleep(0.5)
    assert set(states) == {rule["alert"] for rule in rules}
    assert all(rule["health"] == "ok" for rule in states.values()), states
    assert states["TutorbookServiceDown"]["state"] == "inactive"  # every service is up
    assert not query(prometheus, 'ALERTS{alertstate="firing"}')  # a healthy stack fires nothing
