"""Prometheus naming conventions for every metric the gateway and the retriever register."""

from prometheus_client import CollectorRegistry, Gauge

from tutorbook_gateway.metrics import create_gateway_metrics
from tutorbook_retriever.metrics import create_retriever_metrics


def families(registry: CollectorRegistry) -> list[tuple[str, str, str]]:
    return [(family.name, family.type, family.documentation) for family in registry.collect()]


def test_names_follow_prometheus_conventions() -> None:
    found = families(create_gateway_metrics().registry) + families(create_retriever_metrics().registry)
    assert len(found) > 20
    for name, kind, documentation in found:
        assert name.startswith(("tutorbook_gateway_", "tutorbook_retriever_")), name
        assert documentation, name
        if "duration" in name or "time_to" in name:
            assert kind == "histogram" and name.endswith("_seconds"), name
    assert convention_breaks(create_gateway_metrics().registry) == []
    assert convention_breaks(create_retriever_metrics().registry) == []


def convention_breaks(registry: CollectorRegistry) -> list[str]:
    """Counters are exposed as <name>_total, which is what dashboards and alerts query; nothing else may end
    in _total, or a query written for a counter would silently read a gauge or a histogram."""
    return [
        f"{family.name}: a {family.type} named like a counter"
        for family in registry.collect()
        if family.type != "counter" and family.name.endswith("_total")
    ]


def test_the_convention_check_catches_a_gauge_named_like_a_counter() -> None:
    registry = CollectorRegistry()
    Gauge("tutorbook_gateway_things_total", "a gauge in a counter's clothes", registry=registry)
    assert convention_breaks(registry) == ["tutorbook_gateway_things_total: a gauge named like a counter"]
