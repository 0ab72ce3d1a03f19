from typing import Any

from litestar import Request, get

from tutorbook_gateway.auth import caller_of


@get("/v1/me", sync_to_thread=False)
def who_am_i(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Who the key is: its role (``user`` or ``admin``: the page shows the admin consoles to admins), team,
    scopes, and the name state knows it by (a fingerprint or ``key-<id>``, never the key)."""
    caller = caller_of(request)
    scopes = sorted(scope.value for scope in caller.scopes)
    return {"object": "key", "role": caller.role, "team": caller.team, "scopes": scopes, "fingerprint": caller.owner}
