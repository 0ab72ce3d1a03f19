"""Keys for a local run: taken from the environment or a git-ignored ``.env``, generated when absent."""

import secrets
from pathlib import Path

from tutorbook_config.local_keys import read_env_file, split_keys


def ensure_keys(env_file: Path, environ: dict[str, str]) -> tuple[list[str], list[str], bool]:
    """(api keys, admin keys, whether new keys were written to ``env_file``)."""
    stored = read_env_file(env_file)
    api = environ.get("TUTORBOOK_API_KEYS") or stored.get("TUTORBOOK_API_KEYS", "")
    admin = environ.get("TUTORBOOK_ADMIN_KEYS") or stored.get("TUTORBOOK_ADMIN_KEYS", "")
    created = False
    if not api and not admin:
        api, admin = f"tb-{secrets.token_urlsafe(24)}", f"tb-admin-{secrets.token_urlsafe(24)}"
        with env_file.open("a") as handle:
            handle.write(f"TUTORBOOK_API_KEYS={api}\nTUTORBOOK_ADMIN_KEYS={admin}\n")
        env_file.chmod(0o600)
        created = True
    return split_keys(api), split_keys(admin), created


def ensure_internal_token(env_file: Path, environ: dict[str, str]) -> str:
    """The secret the gateway shares with the retriever and vLLM: from the environment or ``env_file``,
    else generated once and saved there."""
    token = environ.get("TUTORBOOK_INTERNAL_TOKEN") or read_env_file(env_file).get("TUTORBOOK_INTERNAL_TOKEN", "")
    if not token:
        token = f"tb-internal-{secrets.token_urlsafe(24)}"
        with env_file.open("a") as handle:
            handle.write(f"TUTORBOOK_INTERNAL_TOKEN={token}\n")
        env_file.chmod(0o600)
    return token
