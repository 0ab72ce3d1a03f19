"""Who may see a document: its access list (``"public"`` and team names), and the teams a request speaks for.

What a team name and an access list may be is ``tutorbook_service.teams``' (the gateway reads the same);
how the retriever applies them lives here once: ingestion, the document routes, search and
``tutorbook-ingest`` call it. A document without an access list (ingested before access lists existed)
counts as public: every request sees it, in the registry here and in the chunk filters Qdrant applies
(``IsEmpty(access)`` beside ``MatchAny(access, visible_to)``).
"""

from tutorbook_service.errors import BadRequestError, ForbiddenError
from tutorbook_service.teams import PUBLIC, access_problem, is_team_name

ACCESS_FIELD = "access"  # the chunk payload field (keyword-indexed) and the registry record's


def default_access() -> list[str]:
    """A document nobody restricted is public."""
    return [PUBLIC]


def validate_access(entries: list[str], param: str) -> None:
    """1 to 50 distinct entries, each ``"public"`` or a team name; else a 400 naming ``param``."""
    problem = access_problem(entries)
    if problem is not None:
        raise BadRequestError(f"{param} is invalid: {problem}", param=param)


def validate_team(team: str | None, param: str = "team") -> None:
    """A team name, or nothing (None, or ``""`` where the field has that default)."""
    if team and not is_team_name(team):
        raise BadRequestError(f"{param} must be a team name (lowercase letters, digits and '-')", param=param)


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


def may_change(access: list[str], team: str | None) -> bool:
    """Whether a caller writing for ``team`` (None: an admin, who may change any document) may replace or
    delete a document with ``access``: only one whose access list names its team. A public document an
    admin made, or one from before access lists (no list), is an admin's to change."""
    return team is None or team in access


def check_may_change(doc_id: str, access: list[str], team: str | None, param: str) -> None:
    """A 403 when ``team`` may not change the stored document ``doc_id`` (see :func:`may_change`)."""
    if not may_change(access, team):
        raise ForbiddenError(
            f"{param} {doc_id!r} is a document whose access list does not name team {team!r}: only an admin, "
            "or a key of a team it names, may replace or delete it",
            param=param,
        )
