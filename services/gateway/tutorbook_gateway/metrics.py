"""The gateway's Prometheus metrics, registered on a registry owned by the app (no global registry)."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram

from tutorbook_common.errors import RateLimitedError, ServiceError

if TYPE_CHECKING:
    from tutorbook_gateway.chat import ChatOutcome, ChatPlan
    from tutorbook_gateway.streaming import StreamReport

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
PHASE_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


@dataclass(frozen=True)
class GatewayMetrics:
    registry: CollectorRegistry
    requests: Counter
    request_seconds: Histogram
    first_token_seconds: Histogram
    phase_seconds: Histogram
    router_decisions: Counter
    retrieval_top_score: Histogram
    auth_failures: Counter
    upstream_errors: Counter
    cache_lookups: Counter
    state_errors: Counter
    rate_limited: Counter
    feedback: Counter
    adapter_uploads: Counter
    adapter_refusals: Counter
    adapter_loads: Counter


def create_gateway_metrics() -> GatewayMetrics:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(
        registry=registry,
        requests=Counter(
            "tutorbook_gateway_chat_requests",
            "Chat requests by route, answering model (base, an adapter's name, none) and HTTP status",
            ["route", "model", "status"],
            registry=registry,
        ),
        request_seconds=Histogram(
            "tutorbook_gateway_chat_request_duration_seconds",
            "End-to-end chat latency by route",
            ["route"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        ),
        first_token_seconds=Histogram(
            "tutorbook_gateway_time_to_first_token_seconds",
            "Time from request to the first streamed content token, by route",
            ["route"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        ),
        phase_seconds=Histogram(
            "tutorbook_gateway_phase_duration_seconds",
            "Latency of each phase (retrieve, route, generate)",
            ["phase"],
            registry=registry,
            buckets=PHASE_BUCKETS,
        ),
        router_decisions=Counter(
            "tutorbook_gateway_router_decisions",
            "Router decisions by route and the rule that decided (cache hits are not decisions)",
            ["route", "rule"],
            registry=registry,
        ),
        retrieval_top_score=Histogram(
            "tutorbook_gateway_retrieval_top_score",
            "Best retrieval score per routed request",
            registry=registry,
            buckets=SCORE_BUCKETS,
        ),
        auth_failures=Counter(
            "tutorbook_gateway_auth_failures", "Refused credentials by reason", ["reason"], registry=registry
        ),
        upstream_errors=Counter(
            "tutorbook_gateway_upstream_errors",
            "Failed upstream calls by service and kind",
            ["service", "kind"],
            registry=registry,
        ),
        cache_lookups=Counter(
            "tutorbook_gateway_cache_lookups",
            "Response cache lookups: hit, miss, stale (the index changed) or bypass (not deterministic)",
            ["result"],
            registry=registry,
        ),
        state_errors=Counter(
            "tutorbook_gateway_state_errors",
            "State store (Redis) operations that failed and were degraded, by component",
            ["component"],
            registry=registry,
        ),
        rate_limited=Counter(
            "tutorbook_gateway_rate_limited_requests",
            "Requests refused with 429, by the limit reached (requests or tokens)",
            ["limit"],
            registry=registry,
        ),
        feedback=Counter(
            "tutorbook_gateway_feedback",
            "Feedback on answers by the route that produced them and the rating",
            ["route", "rating"],
            registry=registry,
        ),
        adapter_uploads=Counter(
            "tutorbook_gateway_adapter_uploads",
            "Adapter uploads by result (stored, refused)",
            ["result"],
            registry=registry,
        ),
        adapter_refusals=Counter(
            "tutorbook_gateway_adapter_validation_refusals",
            "Adapter uploads refused by validation, by reason",
            ["reason"],
            registry=registry,
        ),
        adapter_loads=Counter(
            "tutorbook_gateway_adapter_loads",
            "Adapter loads and unloads on generator replicas, by replica and result",
            ["replica", "action", "result"],
            registry=registry,
        ),
    )
    initialise_series(metrics)
    return metrics


def initialise_series(metrics: GatewayMetrics) -> None:
    """Create the label sets ops' queries divide by or alert on, at zero, so that "nothing happened"
    reads as 0 rather than as no data."""
    for service in ("retriever", "generator"):
        for kind in ("upstream_error", "upstream_timeout"):
            metrics.upstream_errors.labels(service=service, kind=kind)
    for component in ("cache", "sessions", "feedback", "rate_limits"):
        metrics.state_errors.labels(component=component)
    for limit in ("requests", "tokens"):
        metrics.rate_limited.labels(limit=limit)
    for result in ("hit", "miss", "stale", "bypass", "semantic_hit"):
        metrics.cache_lookups.labels(result=result)
    for route in ("rag", "adapter", "adapter+rag", "prompt", "abstain"):
        for rating in ("up", "down"):
            metrics.feedback.labels(route=route, rating=rating)
    for result in ("stored", "refused"):
        metrics.adapter_uploads.labels(result=result)


def model_label(plan: "ChatPlan") -> str:
    """Bounded: "base", an adapter's name (admins create those), or "none" (abstain)."""
    decision = plan.decision
    if decision.adapter is not None:
        return decision.adapter.name
    return "none" if decision.route.value == "abstain" else "base"


def observe_answer(metrics: GatewayMetrics, plan: "ChatPlan", status: str, seconds: float) -> None:
    route = plan.decision.route.value
    metrics.requests.labels(route=route, model=model_label(plan), status=status).inc()
    metrics.request_seconds.labels(route=route).observe(seconds)
    if plan.decision.rule != "cache":
        metrics.router_decisions.labels(route=route, rule=plan.decision.rule or "unknown").inc()
    for phase, phase_seconds in plan.phase_seconds.items():
        metrics.phase_seconds.labels(phase=phase).observe(phase_seconds)
    if plan.top_score is not None:
        metrics.retrieval_top_score.observe(plan.top_score)


def observe_chat(metrics: GatewayMetrics, outcome: "ChatOutcome", seconds: float) -> None:
    observe_answer(metrics, outcome.plan, "200", seconds)


def observe_stream(metrics: GatewayMetrics, plan: "ChatPlan", report: "StreamReport", seconds: float) -> None:
    """A stream ends done (200), broken upstream (502) or abandoned by the client (499, nginx's convention)."""
    status = "200" if report.finished else "502" if report.failed else "499"
    observe_answer(metrics, plan, status, seconds)
    if report.first_token_seconds is not None:
        metrics.first_token_seconds.labels(route=plan.decision.route.value).observe(report.first_token_seconds)


def observe_chat_failure(metrics: GatewayMetrics, error: ServiceError, seconds: float) -> None:
    metrics.requests.labels(route="none", model="none", status=str(error.status_code)).inc()
    metrics.request_seconds.labels(route="none").observe(seconds)
    if isinstance(error, RateLimitedError):
        metrics.rate_limited.labels(limit=error.limit).inc()
    service = getattr(error, "service", None)
    if service is not None:
        metrics.upstream_errors.labels(service=service, kind=error.code or "error").inc()
