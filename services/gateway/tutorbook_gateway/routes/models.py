from typing import Any

from litestar import Request, get

from tutorbook_gateway.auth import caller_of
from tutorbook_gateway.chat.request import adapter_snapshot, usable
from tutorbook_gateway.model_list import model_listing
from tutorbook_gateway.services import Chat


@get("/v1/models", sync_to_thread=False)
def list_models(chat: Chat, request: Request[Any, Any, Any]) -> dict[str, Any]:
    """``auto``, the base model and the adapters the key may use (never another team's private ones)."""
    snapshot, caller = adapter_snapshot(chat.adapters, chat.health), caller_of(request)
    active = {name: adapter for name, adapter in snapshot.active.items() if usable(caller, name, snapshot.active)}
    return model_listing(chat.config.policy.base_model, active, snapshot.states)
