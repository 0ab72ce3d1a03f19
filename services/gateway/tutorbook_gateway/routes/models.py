from typing import Any

from litestar import get
from litestar.datastructures import State

from tutorbook_gateway.adapters.catalog import adapter_states
from tutorbook_gateway.model_list import model_listing
from tutorbook_gateway.services import GatewayServices


@get("/v1/models", sync_to_thread=False)
def list_models(state: State) -> dict[str, Any]:
    services: GatewayServices = state.services
    active = services.chat.adapters.active()
    states = adapter_states(active, services.chat.health)
    return model_listing(services.chat.config.policy.base_model, active, states)
