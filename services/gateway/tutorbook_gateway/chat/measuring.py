"""What the chat path tells Prometheus (the metrics themselves are declared in :mod:`tutorbook_gateway.metrics`)
and its log line per answer."""

import functools
import logging
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

from tutorbook_gateway.chat.planning import ChatPlan
from tutorbook_gateway.metrics import GatewayMetrics
from tutorbook_service.errors import RateLimitedError, ServiceError

log = logging.getLogger("tutorbook.chat")


@functools.lru_cache(maxsize=4096)
def labelled(metric: MetricWrapperBase, *values: str) -> Any:
    """A metric's series for these label values, in the order the metric declares its labels. Looked up
    once: every label here comes from a small fixed set (routes, rules, phases, statuses, adapter names)."""
    return metric.labels(*values)


def model_label(plan: ChatPlan) -> str:
    """Bounded: "base", an adapter's name (admins create those; the grounded reader too), or "none" (abstain)."""
    decision = plan.decision
    if decision.adapter is not None:
        return decision.adapter.name
    if plan.reader is not None:
        return plan.reader.name
    return "none" if decision.route.value == "abstain" else "base"


def observe_answer(
    metrics: GatewayMetrics,
    plan: ChatPlan,
    status: str,
    seconds: float,
    first_token_seconds: float | None,
    redis_round_trips: int = 0,
) -> None:
    """An answer that was decided: 200, or for a stream 502 (broken upstream) or 499 (client gone)."""
    route = plan.decision.route.value
    labelled(metrics.requests, route, model_label(plan), status).inc()
    labelled(metrics.request_seconds, route).observe(seconds)
    labelled(metrics.redis_round_trips, route).observe(redis_round_trips)
    if plan.decision.rule != "cache":
        labelled(metrics.router_decisions, route, plan.decision.rule or "unknown").inc()
    for phase, phase_seconds in plan.phase_seconds.items():
        labelled(metrics.phase_seconds, phase).observe(phase_seconds)
    if plan.top_score is not None:
        metrics.retrieval_top_score.observe(plan.top_score)
    if first_token_seconds is not None:
        labelled(metrics.first_token_seconds, route).observe(first_token_seconds)
    if plan.decision.rule != "cache":
        observe_claims(metrics, plan)
    log.info("chat", extra={"route": route, "status": int(status), "duration_ms": round(seconds * 1000, 2)})


def observe_claims(metrics: GatewayMetrics, plan: ChatPlan) -> None:
    """The claim check's verdicts, what it withheld, and its time (a phase of its own)."""
    check = plan.tutorbook.get("answer_check")
    if not check:
        return
    route, model = plan.decision.route.value, model_label(plan)
    labelled(metrics.phase_seconds, "claim_check").observe(check["seconds"])
    for claim in plan.tutorbook.get("claims") or []:
        verdict = "hedge" if claim["hedge"] else "supported" if claim["supported"] else "unsupported"
        labelled(metrics.claims, route, model, verdict).inc()
    if check["not_sure"]:
        labelled(metrics.answers_withheld, route, model, "not_sure").inc()
    elif check["withheld"]:
        labelled(metrics.answers_withheld, route, model, "withheld").inc()
    if check["stopped_runaway"]:
        labelled(metrics.runaway_answers, route).inc()
    observe_judge(metrics, check.get("judge"))


def observe_judge(metrics: GatewayMetrics, judged: dict[str, Any] | None) -> None:
    if not judged or not judged["asked"]:
        return
    if "error" in judged:
        metrics.claims_judged.labels(outcome="failed").inc(judged["asked"])
        return
    metrics.claims_judged.labels(outcome="overruled").inc(judged["overruled"])
    metrics.claims_judged.labels(outcome="upheld").inc(judged["asked"] - judged["overruled"])


def observe_refusal(metrics: GatewayMetrics, error: ServiceError, seconds: float) -> None:
    """A request refused or failed before its answer started (4xx, 429, 502, 503, 504)."""
    metrics.requests.labels(route="none", model="none", status=str(error.status_code)).inc()
    metrics.request_seconds.labels(route="none").observe(seconds)
    if isinstance(error, RateLimitedError):
        metrics.rate_limited.labels(limit=error.limit.replace(" ", "_")).inc()
    service = getattr(error, "service", None)
    if service is not None:
        metrics.upstream_errors.labels(service=service, kind=error.code or "error").inc()
