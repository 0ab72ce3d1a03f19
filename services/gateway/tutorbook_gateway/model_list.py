"""The model list the gateway offers: ``auto`` (the router chooses), the base model, every active adapter."""

from collections.abc import Mapping
from typing import Any

from tutorbook_gateway.adapters.catalog import ActiveAdapter
from tutorbook_gateway.routing import AUTO_MODEL, AdapterState


def model_entry(model_id: str, parent: str | None = None, **details: Any) -> dict[str, Any]:
    entry = {"id": model_id, "object": "model", "created": 0, "owned_by": "tutorbook", "parent": parent}
    return {**entry, "tutorbook": details} if details else entry


def model_listing(
    base_model: str, active: Mapping[str, ActiveAdapter], states: Mapping[str, AdapterState]
) -> dict[str, Any]:
    entries = [model_entry(AUTO_MODEL, kind="router"), model_entry(base_model, kind="base")]
    for name in sorted(active):
        card = active[name].card
        state = states[name]
        entries.append(
            model_entry(
                name,
                parent=base_model,
                kind="adapter",
                version=state.version,
                task_type=card.task_type,
                labels=card.labels,
                wants_context=card.wants_context,
                loaded=state.loaded,
            )
        )
    return {"object": "list", "data": entries}
