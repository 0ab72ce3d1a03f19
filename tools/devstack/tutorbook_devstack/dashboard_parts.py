"""What a dashboard is made of: panels of PromQL queries, and the query shapes the dashboards repeat."""

from dataclasses import dataclass, field

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
