import logging
import time
from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.response import Stream

from tutorbook_common.errors import ServiceError
from tutorbook_gateway.auth import require_api_key
from tutorbook_gateway.chat import ChatOutcome, ChatPlan, complete, generate, plan_chat
from tutorbook_gateway.clients.generator import ChunkStream
from tutorbook_gateway.metrics import observe_chat, observe_chat_failure, observe_stream
from tutorbook_gateway.routing import AdapterState, Route, RouteDecision
from tutorbook_gateway.schemas import ChatCompletionRequest
from tutorbook_gateway.services import GatewayServices
from tutorbook_gateway.serving import (
    CACHE_HEADER,
    SESSION_HEADER,
    Caller,
    Prepared,
    admitted,
    gated,
    new_response_id,
    prepare,
    record_response,
    remember,
    response_record,
    semantic_lookup,
    session_id_of,
    wants_similar_questions,
)
from tutorbook_gateway.streaming import LocalAnswer, StreamReport, abstain_text, stream_events

ROUTE_HEADER = "x-tutorbook-route"
log = logging.getLogger("tutorbook.chat")


@post("/v1/chat/completions", guards=[require_api_key], status_code=200)
async def chat_completions(data: ChatCompletionRequest, request: Request[Any, Any, Any], state: State) -> Response[Any]:
    services: GatewayServices = state.services
    started = time.perf_counter()
    try:
        caller = Caller(request.state.key_fingerprint, session_id_of(request.headers.get(SESSION_HEADER), data))
        prepared = await prepare(data, caller, services.state, services.chat, services.metrics)
        if data.stream:
            return await start_stream(data, prepared, caller, services, started)
        if prepared.cached is not None:
            outcome = await replay(prepared.cached, prepared, services)
        else:
            outcome = await gated(answer(prepared, services), prepared)
    except ServiceError as exc:
        observe_chat_failure(services.metrics, exc, time.perf_counter() - started)
        raise
    completion = outcome.completion
    text = str(completion["choices"][0]["message"].get("content") or "")
    await remember(prepared, caller, completion, text, outcome.plan.index_version, services)
    outcome.plan.phase_seconds.update(prepared.phase_seconds)
    seconds = time.perf_counter() - started
    observe_chat(services.metrics, outcome, seconds)
    route = outcome.decision.route.value
    log.info("chat", extra={"route": route, "status": 200, "duration_ms": round(seconds * 1000, 2)})
    return Response(completion, headers=answer_headers(route, prepared, caller))


async def replay(cached: dict[str, Any], prepared: Prepared, services: GatewayServices) -> ChatOutcome:
    """A cached answer (under a new id): admitted, and recorded for feedback, in one round of waiting."""
    await admitted(prepared)
    record_response(
        cached["id"], response_record(cached.get("tutorbook") or {}, str(cached.get("model", ""))), services
    )
    return ChatOutcome(cached, plan_from_cache(cached))


async def answer(prepared: Prepared, services: GatewayServices) -> ChatOutcome:
    """Plan; a similar question answered before may stand in (semantic cache); else carry the plan out."""
    similar = wants_similar_questions(prepared, services.state)
    plan = await plan_chat(prepared.request, services.chat, similar_questions=similar)
    stand_in = await semantic_lookup(plan, prepared, services)
    if stand_in is not None:
        prepared.cached = stand_in
        return await replay(stand_in, prepared, services)
    outcome = await complete(plan, prepared.request, services.chat)
    response_id = outcome.completion["id"] = new_response_id()
    model = plan.payload["model"] if plan.payload else prepared.request.model
    record_response(response_id, response_record(plan.tutorbook, model), services)
    return outcome


def answer_headers(route: str, prepared: Prepared, caller: Caller) -> dict[str, str]:
    headers = {ROUTE_HEADER: route}
    if prepared.cache_key is not None:
        headers[CACHE_HEADER] = prepared.cache_source if prepared.cached is not None else "miss"
    if caller.session_id is not None:
        headers[SESSION_HEADER] = caller.session_id
    return headers


def plan_from_cache(completion: dict[str, Any]) -> ChatPlan:
    """What metrics and streaming need from a cached answer: its original decision."""
    block = completion.get("tutorbook") or {}
    adapter = block.get("adapter")
    decision = RouteDecision(
        Route(block.get("route", "prompt")),
        float(block.get("confidence", 1.0)),
        "cached",
        adapter=AdapterState(adapter["name"], int(adapter["version"])) if adapter else None,
        rule="cache",
    )
    return ChatPlan(decision, block, None)


async def start_stream(
    data: ChatCompletionRequest, prepared: Prepared, caller: Caller, services: GatewayServices, started: float
) -> Stream:
    """Decide and open the upstream stream before answering, so that errors are still plain HTTP errors."""
    opened: tuple[ChatPlan, ChunkStream | LocalAnswer, str]
    if prepared.cached is not None:
        await replay(prepared.cached, prepared, services)
        opened = plan_from_cache(prepared.cached), cached_answer(prepared.cached), prepared.cached["id"]
    else:
        opened = await gated(open_answer(prepared, services), prepared)
    plan, upstream, response_id = opened

    def on_end(report: StreamReport) -> None:
        seconds = time.perf_counter() - started
        plan.phase_seconds.update(prepared.phase_seconds)
        observe_stream(services.metrics, plan, report, seconds)
        fields = {"route": plan.decision.route.value, "stream": True, "finished": report.finished}
        log.info("chat", extra={**fields, "duration_ms": round(seconds * 1000, 2)})
        if report.finished:
            completion = streamed_completion(report, plan, data.model)
            persist = remember(prepared, caller, completion, report.text(), plan.index_version, services)
            services.background.spawn(persist)

    include_usage = bool(data.stream_options and data.stream_options.include_usage)
    return Stream(
        stream_events(plan, data.model, upstream, include_usage, on_end, response_id),
        media_type="text/event-stream",
        headers={**answer_headers(plan.decision.route.value, prepared, caller), "cache-control": "no-cache"},
    )


def cached_answer(completion: dict[str, Any]) -> LocalAnswer:
    return LocalAnswer(completion["choices"][0]["message"]["content"], completion.get("usage") or {})


async def open_answer(prepared: Prepared, services: GatewayServices) -> tuple[ChatPlan, ChunkStream | LocalAnswer, str]:
    """Plan, then open what the stream will relay: vLLM's stream, or an answer already complete."""
    plan = await plan_chat(prepared.request, services.chat, wants_similar_questions(prepared, services.state))
    stand_in = await semantic_lookup(plan, prepared, services)
    if stand_in is not None:
        prepared.cached = stand_in
        await replay(stand_in, prepared, services)
        return plan_from_cache(stand_in), cached_answer(stand_in), stand_in["id"]
    upstream: ChunkStream | LocalAnswer
    if plan.payload is None:
        upstream = abstain_text(plan)
    elif plan.labels is not None:  # a classifier's answer is one label: computed whole, then sent as chunks
        upstream = cached_answer(await generate(plan, services.chat))
    else:
        upstream = await services.chat.generator.open_chat_stream(plan.payload)
    response_id = new_response_id()
    model = plan.payload["model"] if plan.payload else prepared.request.model
    record_response(response_id, response_record(plan.tutorbook, model), services)
    return plan, upstream, response_id


def streamed_completion(report: StreamReport, plan: ChatPlan, model: str) -> dict[str, Any]:
    """The streamed answer as one chat.completion, for the cache and the feedback record."""
    message = {"role": "assistant", "content": report.text()}
    return {
        "id": report.completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": report.model or model,
        "choices": [{"index": 0, "message": message, "finish_reason": report.finish_reason, "logprobs": None}],
        "usage": report.usage,
        "tutorbook": plan.tutorbook,
    }
