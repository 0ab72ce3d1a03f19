"""The model list the gateway offers: ``auto`` first, then what the generator serves."""

from typing import Any

from tutorbook_gateway.routing import AUTO_MODEL


def model_entry(model_id: str, owned_by: str, parent: str | None = None) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owned_by, "parent": parent}


def model_listing(base_model: str, served: list[dict[str, Any]] | None) -> dict[str, Any]:
    """``served`` is the generator's /v1/models data, or None when the generator did not answer."""
    entries = [model_entry(AUTO_MODEL, "tutorbook")]
    if served is None:
        entries.append(model_entry(base_model, "tutorbook"))
    else:
        entries.extend(
            model_entry(str(model["id"]), "tutorbook", model.get("parent")) for model in served if "id" in model
        )
    return {"object": "list", "data": entries}
