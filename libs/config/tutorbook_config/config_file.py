"""The configuration file: TOML, one file for the whole deployment, its tables the settings' groups.

    [shared]
    data_dir = "/var/lib/tutorbook"

    [gateway.router]
    rag_min_score = 0.4

    [retriever.search]
    fusion = "rrf"

Each service reads ``[shared]`` and its own tables, and refuses a key that is no setting (naming the
closest one); the other services' tables are theirs to check. The environment overrides the file.
TOML, not YAML: Python reads it with no extra package (``tomllib``), its values are typed without YAML's
surprises (``no`` is not ``false``), and its tables are the groups docs/settings.md lists.
"""

import difflib
import tomllib
from pathlib import Path
from typing import Any

from tutorbook_config.variables import REFERENCE, SERVICES, UnknownSettingError

SHARED_TABLE = "shared"


def closest(name: str, known: list[str]) -> str:
    found = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {found[0]!r}?" if found else ""


def table(value: Any, where: str, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UnknownSettingError(f"{path}: [{where}] must be a table of settings")
    return value


def check_keys(given: dict[str, Any], known: list[str], where: str, path: str) -> None:
    for key in given:
        if key not in known:
            raise UnknownSettingError(f"{path}: {where}.{key} is no setting{closest(key, known)} ({REFERENCE})")


def read_config_file(path: str, service: str, fields: dict[str, list[str]]) -> dict[str, Any]:
    """The file's values for ``service``, by group: ``fields`` maps each group (``shared`` among them) to
    its fields."""
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UnknownSettingError(f"the configuration file {path} cannot be read: {exc}") from exc
    check_keys(document, [SHARED_TABLE, *SERVICES], "(top level)", path)
    values: dict[str, Any] = {}
    if SHARED_TABLE in document:
        shared = table(document[SHARED_TABLE], SHARED_TABLE, path)
        check_keys(shared, fields[SHARED_TABLE], SHARED_TABLE, path)
        values[SHARED_TABLE] = shared
    own = table(document.get(service, {}), service, path)
    groups = [group for group in fields if group != SHARED_TABLE]
    check_keys(own, groups, service, path)
    for group, settings in own.items():
        where = f"{service}.{group}"
        check_keys(table(settings, where, path), fields[group], where, path)
        values[group] = settings
    return values
