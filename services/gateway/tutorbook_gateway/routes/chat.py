import logging
import time
from typing import Any

from litestar import Response, post
from litestar.datastructures import State
from litestar.response import Stream

from tutorbook_common.errors import ServiceError
from tutorbook_gateway.auth import require_api_key
from tutorbook_gateway.chat import ChatPlan, answer_chat, generate, plan_chat
from tutorbook_gateway.clients.generator import ChunkStream
from tutorbook_gateway.metrics import observe_chat, observe_chat_failure, observe_stream
from tutorbook_gateway.schemas import ChatCompletionRequest
from tutorbook_gateway.services import GatewayServices
from tutorbook_gateway.streaming import LocalAnswer, StreamReport, abstain_text, stream_events

ROUTE_HEADER = "x-tutorbook-route"
log = logging.getLogger("tutorbook.chat")


@post("/v1/chat/completions", guards=[require_api_key], status_code=200)
async def chat_completions(data: ChatCompletionRequest, state: State) -> Response[Any]:
    services: GatewayServices = state.services
    started = time.perf_counter()
    try:
        if data.stream:
            return await start_stream(data, services, started)
        outcome = await answer_chat(data, services.chat)
    except ServiceError as exc:
        observe_chat_failure(services.metrics, exc, time.perf_counter() - started)
        raise
    seconds = time.perf_counter() - started
    observe_chat(services.metrics, outcome, seconds)
    log.info(
        "chat", extra={"route": outcome.decision.route.value, "status": 200, "duration_ms": round(seconds * 1000, 2)}
    )
    return Response(outcome.completion, headers={ROUTE_HEADER: outcome.decision.route.value})


async def start_stream(data: ChatCompletionRequest, services: GatewayServices, started: float) -> Stream:
    """Decide and open the upstream stream before answering, so that errors are still plain HTTP errors."""
    plan: ChatPlan = await plan_chat(data, services.chat)
    upstream: ChunkStream | LocalAnswer
    if plan.payload is None:
        upstream = abstain_text(plan)
    elif plan.labels is not None:  # a classifier's answer is one label: computed whole, then sent as chunks
        completion = await generate(plan, services.chat)
        upstream = LocalAnswer(completion["choices"][0]["message"]["content"], completion.get("usage") or {})
    else:
        upstream = await services.chat.generator.open_chat_stream(plan.payload)

    def on_end(report: StreamReport) -> None:
        seconds = time.perf_counter() - started
        observe_stream(services.metrics, plan, report, seconds)
        fields = {"route": plan.decision.route.value, "stream": True, "finished": report.finished}
        log.info("chat", extra={**fields, "duration_ms": round(seconds * 1000, 2)})

    include_usage = bool(data.stream_options and data.stream_options.include_usage)
    return Stream(
        stream_events(plan, data.model, upstream, include_usage, on_end),
        media_type="text/event-stream",
        headers={ROUTE_HEADER: plan.decision.route.value, "cache-control": "no-cache"},
    )
