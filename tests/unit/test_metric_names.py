"""Prometheus naming conventions for every metric the gateway and the retriever register."""

from prometheus_client import CollectorRegistry

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
        if kind == "counter":
            # prometheus-client strips the _total suffix from a counter family's name and adds it to its samples.
            assert not name.endswith("_total"), name
