"""Team names and access lists, as every service reads them: the gateway (keys, adapters), the retriever
(documents' access lists) and the adapter card. One owner for what a team's name may be."""

import re

TEAM_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")  # lowercase letters, digits and '-', at most 63
PUBLIC = "public"  # an access list's entry for what everyone may see; never a team's name
MAX_ACCESS_ENTRIES = 50


def is_team_name(name: str) -> bool:
    return bool(TEAM_NAME.match(name)) and name != PUBLIC


def access_problem(entries: list[str]) -> str | None:
    """What is wrong with an access list (teams, or "public"), or None."""
    if not 1 <= len(entries) <= MAX_ACCESS_ENTRIES or len(set(entries)) != len(entries):
        return f"1 to {MAX_ACCESS_ENTRIES} distinct entries"
    wrong = [entry for entry in entries if entry != PUBLIC and not is_team_name(entry)]
    return (
        f"{wrong[0][:80]!r} is neither {PUBLIC!r} nor a team name (lowercase letters, digits, '-')" if wrong else None
    )
