"""Gateway settings that are more than a value."""

import pytest

from tutorbook_config.key_strength import WeakKeyError
from tutorbook_gateway.app import create_app
from tutorbook_gateway.settings import GatewaySettings


def test_adapter_replicas_come_from_settings_or_dns() -> None:
    assert GatewaySettings(generator_url="http://g:8002").replica_urls() == ["http://g:8002"]
    assert GatewaySettings(generator_replicas="http://a:8002, http://b:8002").replica_urls() == [
        "http://a:8002",
        "http://b:8002",
    ]
    assert GatewaySettings(generator_dns="generator-headless").replica_urls() == []


@pytest.mark.parametrize(
    ("keys", "setting"),
    [
        ({"api_keys": "k3y-0001"}, "TUTORBOOK_API_KEYS"),
        (
            {"api_keys": "a-long-enough-user-key-01", "admin_keys": "replace-with-a-long-random-key"},
            "TUTORBOOK_ADMIN_KEYS",
        ),
        (
            {"api_keys": "a-long-enough-user-key-01", "internal_token": "changeme-changeme-changeme"},
            "TUTORBOOK_INTERNAL_TOKEN",
        ),
        ({"api_keys": "a-long-enough-user-key-01"}, "TUTORBOOK_INTERNAL_TOKEN"),  # none: the upstreams refuse it
    ],
)
def test_the_gateway_refuses_to_start_with_weak_keys(keys: dict[str, str], setting: str) -> None:
    with pytest.raises(WeakKeyError, match=setting) as refused:
        create_app(GatewaySettings.model_validate(keys))
    assert all(value not in str(refused.value) for value in keys.values())  # never the key itself
