import logging
from typing import Any

import aiohttp
from litestar import get
from litestar.datastructures import State

from tutorbook_gateway.auth import require_api_key
from tutorbook_gateway.catalog import model_listing
from tutorbook_gateway.services import GatewayServices

log = logging.getLogger(__name__)


@get("/v1/models", guards=[require_api_key])
async def list_models(state: State) -> dict[str, Any]:
    services: GatewayServices = state.services
    served: list[dict[str, Any]] | None
    try:
        served = await services.generator.list_models()
    except (TimeoutError, aiohttp.ClientError) as exc:
        log.warning("generator model list unavailable, listing the configured base model: %s", exc)
        services.metrics.upstream_errors.labels(service="generator", kind="models").inc()
        served = None
    return model_listing(services.chat.policy.base_model, served)
