"""Dashboards and alert rules, checked offline: promtool passes, the committed dashboards are what the
code renders, and Kubernetes ships the same rules and dashboards as docker-compose."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tutorbook_devstack.dashboards import DASHBOARDS, rendered

PROMETHEUS = REPO_ROOT / "deploy" / "prometheus"
DASHBOARD_DIR = REPO_ROOT / "deploy" / "grafana" / "dashboards"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed (make test installs the prometheus package)")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)


def test_promtool_accepts_the_rules_and_the_config() -> None:
    rules = promtool("check", "rules", str(PROMETHEUS / "alerts.yml"))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 6 rules found" in rules.stdout
    config = promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr


def test_committed_dashboards_are_what_the_code_renders() -> None:
    """In deploy/ for docker-compose and in the Kubernetes base (kustomize reads only inside its tree)."""
    expected = rendered()
    for folder in (DASHBOARD_DIR, REPO_ROOT / "k8s" / "base" / "dashboards"):
        assert {path.name for path in folder.glob("*.json")} == set(expected)
        for name, text in expected.items():
            assert (folder / name).read_text() == text, (
                f"{folder / name} is stale: python -m tutorbook_devstack.dashboards"
            )


def test_every_panel_uses_the_data_source_variable_and_says_what_it_answers() -> None:
    for dashboard in DASHBOARD_DIR.glob("*.json"):
        body = json.loads(dashboard.read_text())
        assert body["templating"]["list"][0]["name"] == "datasource"
        for panel in body["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}" and panel["description"].endswith("?")
            assert panel["targets"] and all(target["expr"] for target in panel["targets"])
    assert {d.title for d in DASHBOARDS} >= {"Tutorbook overview", "Tutorbook generator (vLLM)", "Tutorbook retriever"}


def test_kubernetes_ships_the_same_rules_and_every_dashboard() -> None:
    documents = list(yaml.safe_load_all((REPO_ROOT / "k8s" / "base" / "alerts.yaml").read_text()))
    [rule] = documents
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"] == yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    kustomization = yaml.safe_load((REPO_ROOT / "k8s" / "base" / "kustomization.yaml").read_text())
    [generator] = kustomization["configMapGenerator"]
    assert sorted(Path(file).name for file in generator["files"]) == sorted(
        p.name for p in DASHBOARD_DIR.glob("*.json")
    )
