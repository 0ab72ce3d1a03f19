"""Keys as command-line tools find them: one lookup for every tool that calls the gateway's admin API.

The admin key comes from ``--key``, else ``$TUTORBOOK_ADMIN_KEY``, else the first of
``$TUTORBOOK_GATEWAY_KEYS__ADMIN_KEYS``, else the first of those in the git-ignored ``.env`` that ``make run``
writes.
"""

from collections.abc import Mapping
from pathlib import Path

from tutorbook_config.variables import ADMIN_KEY_VARIABLE, ADMIN_KEYS_VARIABLE

ENV_FILE = Path(".env")


class MissingKeyError(Exception):
    """No admin key anywhere a tool looks."""


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                name, _, value = line.partition("=")
                values[name.strip()] = value.strip().strip('"').strip("'")
    return values


def split_keys(value: str) -> list[str]:
    return [key.strip() for key in value.split(",") if key.strip()]


def admin_key(given: str | None, environ: Mapping[str, str], env_file: Path = ENV_FILE) -> str:
    candidates = [
        given or "",
        environ.get(ADMIN_KEY_VARIABLE, ""),
        *split_keys(environ.get(ADMIN_KEYS_VARIABLE, ""))[:1],
        *split_keys(read_env_file(env_file).get(ADMIN_KEYS_VARIABLE, ""))[:1],
    ]
    for candidate in candidates:
        if candidate.strip():
            return candidate.strip()
    raise MissingKeyError(
        f"no admin key: pass --key, or set {ADMIN_KEY_VARIABLE} or {ADMIN_KEYS_VARIABLE} (make run writes them to .env)"
    )
