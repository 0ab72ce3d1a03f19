import time
from typing import Any

from litestar import Response, post
from litestar.datastructures import State

from tutorbook_common.errors import ServiceError
from tutorbook_gateway.auth import require_api_key
from tutorbook_gateway.chat import answer_chat
from tutorbook_gateway.metrics import observe_chat, observe_chat_failure
from tutorbook_gateway.schemas import ChatCompletionRequest
from tutorbook_gateway.services import GatewayServices

ROUTE_HEADER = "x-tutorbook-route"


@post("/v1/chat/completions", guards=[require_api_key], status_code=200)
async def chat_completions(data: ChatCompletionRequest, state: State) -> Response[dict[str, Any]]:
    services: GatewayServices = state.services
    started = time.perf_counter()
    try:
        outcome = await answer_chat(data, services.chat, services.retriever, services.generator)
    except ServiceError as exc:
        observe_chat_failure(services.metrics, exc, time.perf_counter() - started)
        raise
    observe_chat(services.metrics, outcome, time.perf_counter() - started)
    return Response(outcome.completion, headers={ROUTE_HEADER: outcome.decision.route.value})
