from typing import Any

from litestar import Request, get

from tutorbook_gateway.auth import key_holder_of


@get("/v1/me", sync_to_thread=False)
def who_am_i(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The key's role (``user`` or ``admin``) and fingerprint: the page shows the adapter console to admins."""
    holder = key_holder_of(request)
    return {"object": "key", "role": holder.role.value, "fingerprint": holder.fingerprint}
