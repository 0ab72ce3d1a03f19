from typing import Any

from litestar import get

from tutorbook_gateway.chat.request import adapter_snapshot
from tutorbook_gateway.model_list import model_listing
from tutorbook_gateway.services import Chat


@get("/v1/models", sync_to_thread=False)
def list_models(chat: Chat) -> dict[str, Any]:
    snapshot = adapter_snapshot(chat.adapters, chat.health)
    return model_listing(chat.config.policy.base_model, snapshot.active, snapshot.states)
