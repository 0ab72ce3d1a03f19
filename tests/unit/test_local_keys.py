"""Every command-line tool finds the admin key the same way: --key, then the environment, then .env."""

from pathlib import Path

import pytest

from tutorbook_config.local_keys import MissingKeyError, admin_key


def test_the_admin_key_is_looked_up_in_order(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "TUTORBOOK_GATEWAY_KEYS__API_KEYS=user\nTUTORBOOK_GATEWAY_KEYS__ADMIN_KEYS='from-file,second'\n"
    )
    environ = {"TUTORBOOK_ADMIN_KEY": "single", "TUTORBOOK_GATEWAY_KEYS__ADMIN_KEYS": "first, other"}
    assert admin_key("given", environ, env_file) == "given"
    assert admin_key(None, environ, env_file) == "single"
    assert admin_key(None, {"TUTORBOOK_GATEWAY_KEYS__ADMIN_KEYS": " first, other"}, env_file) == "first"
    assert admin_key(None, {}, env_file) == "from-file"


def test_no_key_anywhere_says_where_to_put_one(tmp_path: Path) -> None:
    with pytest.raises(MissingKeyError, match="--key"):
        admin_key(None, {"TUTORBOOK_GATEWAY_KEYS__ADMIN_KEYS": " , "}, tmp_path / "missing.env")
