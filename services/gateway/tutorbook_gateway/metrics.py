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


def create_gateway_metrics() -> GatewayMetrics:
    registry = CollectorRegistry()
    return GatewayMetrics(
        registry=registry,
        requests=Counter(
            "tutorbook_gateway_chat_requests",
            "Chat requests by route and HTTP status",
            ["route", "status"],
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
            "tutorbook_gateway_router_decisions", "Router decisions by route", ["route"], registry=registry
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
    )


def observe_answer(metrics: GatewayMetrics, plan: "ChatPlan", status: str, seconds: float) -> None:
    route = plan.decision.route.value
    metrics.requests.labels(route=route, status=status).inc()
    metrics.request_seconds.labels(route=route).observe(seconds)
    metrics.router_decisions.labels(route=route).inc()
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
    metrics.requests.labels(route="none", status=str(error.status_code)).inc()
    metrics.request_seconds.labels(route="none").observe(seconds)
    if isinstance(error, RateLimitedError):
        metrics.rate_limited.labels(limit=error.limit).inc()
    service = getattr(error, "service", None)
    if service is not None:
        metrics.upstream_errors.labels(service=service, kind=error.code or "error").inc()
