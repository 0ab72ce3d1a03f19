"""Gateway settings that are more than a value."""

from tutorbook_gateway.settings import GatewaySettings


def test_adapter_replicas_come_from_settings_or_dns() -> None:
    assert GatewaySettings(generator_url="http://g:8002").replica_urls() == ["http://g:8002"]
    assert GatewaySettings(generator_replicas="http://a:8002, http://b:8002").replica_urls() == [
        "http://a:8002",
        "http://b:8002",
    ]
    assert GatewaySettings(generator_dns="generator-headless").replica_urls() == []
