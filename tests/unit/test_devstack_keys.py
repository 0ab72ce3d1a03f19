from pathlib import Path

from tutorbook_devstack.keys import ensure_internal_token, ensure_keys


def test_keys_are_generated_once_then_reused(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    api, admin, created = ensure_keys(env_file, {})
    assert created and len(api) == 1 and len(admin) == 1 and api != admin
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    assert ensure_keys(env_file, {}) == (api, admin, False)


def test_environment_keys_win_and_nothing_is_written(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    keys = {"TUTORBOOK_GATEWAY_KEYS__API_KEYS": "a, b", "TUTORBOOK_GATEWAY_KEYS__ADMIN_KEYS": "c"}
    assert ensure_keys(env_file, keys) == (["a", "b"], ["c"], False)
    assert not env_file.exists()


def test_the_internal_token_is_generated_once_strong_and_kept_out_of_sight(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    token = ensure_internal_token(env_file, {})
    assert len(token) >= 32 and oct(env_file.stat().st_mode & 0o777) == "0o600"
    assert ensure_internal_token(env_file, {}) == token
    assert (
        ensure_internal_token(env_file, {"TUTORBOOK_INTERNAL_TOKEN": "from-the-environment"}) == "from-the-environment"
    )
