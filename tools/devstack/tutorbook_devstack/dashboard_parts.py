"""What a dashboard is made of (panels of PromQL queries, the shapes they repeat) and its Grafana JSON."""

from dataclasses import dataclass, field
from typing import Any

RATE = "$__rate_interval"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    description: str  # the question the panel answers
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    file_name: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)


def quantiles(metric: str, by: str) -> tuple[Query, ...]:
    return tuple(
        Query(
            f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket[{RATE}])))",
            f"p{int(q * 100)} {{{{{by}}}}}",
        )
        for q in (0.5, 0.95, 0.99)
    )


def quantile(q: float, metric: str, legend: str) -> Query:
    """A quantile of a histogram over every series (no grouping)."""
    return Query(f"histogram_quantile({q}, sum by (le) (rate({metric}_bucket[{RATE}])))", legend)


def ratio(numerator: str, denominator: str) -> str:
    return f"(sum(rate({numerator}[{RATE}])) or vector(0)) / sum(rate({denominator}[{RATE}]))"


DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def panel_json(panel: Panel, index: int) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {},
        "targets": [
            {
                "refId": chr(ord("A") + number),
                "expr": query.expr,
                "legendFormat": query.legend,
                "datasource": DATASOURCE,
            }
            for number, query in enumerate(panel.queries)
        ],
    }


def dashboard_json(dashboard: Dashboard) -> dict[str, Any]:
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "tags": ["tutorbook"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Data source",
                    "current": {},
                    "hide": 0,
                }
            ]
        },
        "panels": [panel_json(panel, index) for index, panel in enumerate(dashboard.panels)],
    }
