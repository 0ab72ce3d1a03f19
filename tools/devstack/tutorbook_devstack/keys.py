"""Keys for a local run: taken from the environment or a git-ignored ``.env``, generated when absent."""

import secrets
from pathlib import Path

from tutorbook_config.local_keys import read_env_file, split_keys
from tutorbook_config.renamed import RENAMED
from tutorbook_config.variables import ADMIN_KEYS_VARIABLE, API_KEYS_VARIABLE, INTERNAL_TOKEN_VARIABLE


class RenamedInEnvFileError(Exception):
    """``.env`` still names a variable by its name from before the settings were grouped."""


def stored_values(env_file: Path) -> dict[str, str]:
    """``env_file``'s variables; a renamed one is refused with its new name (it would be ignored)."""
    stored = read_env_file(env_file)
    renamed = [f"{name} is now {' or '.join(RENAMED[name])}" for name in stored if name in RENAMED]
    if renamed:
        raise RenamedInEnvFileError(f"{env_file}: rename these variables: {'; '.join(renamed)}")
    return stored


def ensure_keys(env_file: Path, environ: dict[str, str]) -> tuple[list[str], list[str], bool]:
    """(api keys, admin keys, whether new keys were written to ``env_file``)."""
    stored = stored_values(env_file)
    api = environ.get(API_KEYS_VARIABLE) or stored.get(API_KEYS_VARIABLE, "")
    admin = environ.get(ADMIN_KEYS_VARIABLE) or stored.get(ADMIN_KEYS_VARIABLE, "")
    created = False
    if not api and not admin:
        api, admin = f"tb-{secrets.token_urlsafe(24)}", f"tb-admin-{secrets.token_urlsafe(24)}"
        with env_file.open("a") as handle:
            handle.write(f"{API_KEYS_VARIABLE}={api}\n{ADMIN_KEYS_VARIABLE}={admin}\n")
        env_file.chmod(0o600)
        created = True
    return split_keys(api), split_keys(admin), created


def ensure_internal_token(env_file: Path, environ: dict[str, str]) -> str:
    """The secret the gateway shares with the retriever and vLLM: from the environment or ``env_file``,
    else generated once and saved there."""
    token = environ.get(INTERNAL_TOKEN_VARIABLE) or stored_values(env_file).get(INTERNAL_TOKEN_VARIABLE, "")
    if not token:
        token = f"tb-internal-{secrets.token_urlsafe(24)}"
        with env_file.open("a") as handle:
            handle.write(f"{INTERNAL_TOKEN_VARIABLE}={token}\n")
        env_file.chmod(0o600)
    return token
