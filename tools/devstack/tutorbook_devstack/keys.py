"""Keys for a local run: taken from the environment or a git-ignored ``.env``, generated when absent."""

import secrets
from pathlib import Path


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
