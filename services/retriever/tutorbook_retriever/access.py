"""Who may see a document: its access list (``"public"`` and team names), and the teams a request speaks for.

The rule lives here once; ingestion, the document routes, search and ``tutorbook-ingest`` all call it. A
document without an access list (ingested before access lists existed) counts as public: every request
sees it, in the registry here and in the chunk filters Qdrant applies (``IsEmpty(access)`` beside
``MatchAny(access, visible_to)``).
"""

import re

from tutorbook_service.errors import BadRequestError

PUBLIC = "public"
ACCESS_FIELD = "access"  # the chunk payload field (keyword-indexed) and the registry record's
# The gateway's team names (tutorbook_gateway.access.model.NAME_PATTERN); "public" matches it too.
TEAM_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
MAX_ACCESS_ENTRIES = 50


def default_access() -> list[str]:
    """A document nobody restricted is public."""
    return [PUBLIC]


def access_problem(entries: list[str]) -> str | None:
    """What is wrong with an access list (or a ``visible_to`` list), or None: 1 to 50 distinct entries,
    each ``"public"`` or a team name (lowercase letters, digits and ``-``, up to 63)."""
    if not 1 <= len(entries) <= MAX_ACCESS_ENTRIES:
        return f"must hold 1 to {MAX_ACCESS_ENTRIES} entries"
    for entry in entries:
        if not isinstance(entry, str) or not TEAM_PATTERN.fullmatch(entry):
            return f"entry {str(entry)[:80]!r} is neither 'public' nor a team name (a-z, 0-9 and '-', up to 63)"
    if len(set(entries)) != len(entries):
        return "must not name an entry twice"
    return None


def validate_access(entries: list[str], param: str) -> None:
    problem = access_problem(entries)
    if problem is not None:
        raise BadRequestError(f"{param} {problem}", param=param)


def validate_team(team: str | None, param: str = "team") -> None:
    """A team name, or nothing (None, or ``""`` where the field has that default)."""
    if team and not TEAM_PATTERN.fullmatch(team):
        raise BadRequestError(f"{param} must be a team name (a-z, 0-9 and '-', up to 63)", param=param)


def parse_visible_to(value: str | None) -> list[str] | None:
    """The ``visible_to`` query parameter (comma-separated), validated; None when it is absent."""
    if value is None:
        return None
    entries = [entry.strip() for entry in value.split(",")]
    validate_access(entries, "visible_to")
    return entries


def may_see(access: list[str], visible_to: list[str] | None) -> bool:
    """Whether a request that sees ``visible_to`` (None: everything) may see a document with ``access``
    (empty: a document from before access lists, which every request sees)."""
    return visible_to is None or not access or not set(access).isdisjoint(visible_to)
