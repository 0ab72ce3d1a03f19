"""Gateway settings: read by group from the environment and the configuration file; a name nobody reads,
or one from before the rename, stops the gateway naming what was meant; weak keys stop it too."""

from pathlib import Path

import pytest

from tutorbook_config.key_strength import WeakKeyError
from tutorbook_config.service_settings import configured
from tutorbook_config.variables import UnknownSettingError
from tutorbook_gateway.app import create_app
from tutorbook_gateway.settings import GatewaySettings
from tutorbook_gateway.wiring import replica_urls


def test_each_variable_sets_its_group_and_shared_ones_set_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTORBOOK_GATEWAY_ROUTER__RAG_MIN_SCORE", "0.41")
    monkeypatch.setenv("TUTORBOOK_GATEWAY_CACHE__SCOPE", "shared")
    monkeypatch.setenv("TUTORBOOK_DATA_DIR", "/srv/tutorbook")
    settings = GatewaySettings()
    assert settings.router.rag_min_score == 0.41 and settings.cache.scope == "shared"
    assert settings.shared.data_dir == Path("/srv/tutorbook")


@pytest.mark.parametrize(
    ("variable", "said"),
    [
        ("TUTORBOOK_GATEWAY_ROUTR__RAG_MIN_SCORE", "did you mean TUTORBOOK_GATEWAY_ROUTER__RAG_MIN_SCORE?"),
        ("TUTORBOOK_GATEWAY_CACHE__TTL_SECOND", "did you mean TUTORBOOK_GATEWAY_CACHE__TTL_SECONDS?"),
        ("TUTORBOOK_INTERNAL_TOKN", "did you mean TUTORBOOK_INTERNAL_TOKEN?"),
        ("TUTORBOOK_RAG_MIN_SCORE", "was renamed: set TUTORBOOK_GATEWAY_ROUTER__RAG_MIN_SCORE instead"),
        ("TUTORBOOK_HOST", "set TUTORBOOK_GATEWAY_SERVER__HOST or TUTORBOOK_RETRIEVER_SERVER__HOST or"),
        ("TUTORBOOK_WHATEVER_ELSE", "TUTORBOOK_WHATEVER_ELSE is no setting of the gateway"),
    ],
)
def test_an_unknown_variable_stops_the_gateway_naming_what_was_meant(
    monkeypatch: pytest.MonkeyPatch, variable: str, said: str
) -> None:
    monkeypatch.setenv(variable, "1")
    with pytest.raises(UnknownSettingError, match=r"docs/settings\.md") as refused:
        create_app()
    assert said in str(refused.value)


def test_other_services_variables_and_the_tools_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTORBOOK_RETRIEVER_SEARCH__FUSION", "rrf")  # the retriever checks its own
    monkeypatch.setenv("TUTORBOOK_GENERATOR_ENGINE__KV_CACHE_GIB", "4")
    monkeypatch.setenv("TUTORBOOK_ADMIN_KEY", "for the command-line tools")
    assert GatewaySettings().router.rag_min_score == 0.36


def test_the_configuration_file_sets_groups_below_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "tutorbook.toml"
    config.write_text(
        '[shared]\ndata_dir = "/from/file"\n\n[gateway.router]\nrag_min_score = 0.3\nadapter_margin = 0.1\n\n'
        '[retriever.search]\nfusion = "rrf"\n'  # the retriever's to check
    )
    monkeypatch.setenv("TUTORBOOK_CONFIG", str(config))
    monkeypatch.setenv("TUTORBOOK_GATEWAY_ROUTER__RAG_MIN_SCORE", "0.45")
    settings = GatewaySettings()
    assert settings.router.rag_min_score == 0.45  # the environment wins
    assert settings.router.adapter_margin == 0.1 and settings.shared.data_dir == Path("/from/file")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[gateway.routr]\nrag_min_score = 0.3\n", "gateway.routr is no setting; did you mean 'router'?"),
        ("[gateway.router]\nrag_min_scor = 0.3\n", "gateway.router.rag_min_scor is no setting; did you mean"),
        ("[gatway.router]\nrag_min_score = 0.3\n", "(top level).gatway is no setting; did you mean 'gateway'?"),
        ("[gateway]\nrouter = 3\n", "[gateway.router] must be a table"),
        ("[gateway.router\n", "cannot be read"),
    ],
)
def test_a_wrong_configuration_file_stops_the_gateway(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, said: str
) -> None:
    config = tmp_path / "tutorbook.toml"
    config.write_text(text)
    monkeypatch.setenv("TUTORBOOK_CONFIG", str(config))
    with pytest.raises(UnknownSettingError) as refused:
        GatewaySettings()
    assert said in str(refused.value)


def test_adapter_replicas_come_from_settings_or_dns() -> None:
    def replicas(**fields: str) -> list[str]:
        return replica_urls(configured(GatewaySettings, **fields).upstreams)

    assert replicas(upstreams__generator_url="http://g:8002") == ["http://g:8002"]
    assert replicas(upstreams__generator_replicas="http://a:8002, http://b:8002") == ["http://a:8002", "http://b:8002"]
    assert replicas(upstreams__generator_dns="generator-headless") == []


@pytest.mark.parametrize(
    ("keys", "setting"),
    [
        ({"keys__api_keys": "k3y-0001"}, "TUTORBOOK_GATEWAY_KEYS__API_KEYS"),
        (
            {"keys__api_keys": "a-long-enough-user-key-01", "keys__admin_keys": "replace-with-a-long-random-key"},
            "TUTORBOOK_GATEWAY_KEYS__ADMIN_KEYS",
        ),
        (
            {"keys__api_keys": "a-long-enough-user-key-01", "shared__internal_token": "changeme-changeme-changeme"},
            "TUTORBOOK_INTERNAL_TOKEN",
        ),
        ({"keys__api_keys": "a-long-enough-user-key-01"}, "TUTORBOOK_INTERNAL_TOKEN"),  # none: the upstreams refuse it
    ],
)
def test_the_gateway_refuses_to_start_with_weak_keys(keys: dict[str, str], setting: str) -> None:
    with pytest.raises(WeakKeyError, match=setting) as refused:
        create_app(configured(GatewaySettings, **keys))
    assert all(value not in str(refused.value) for value in keys.values())  # never the key itself
