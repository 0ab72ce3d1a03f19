"""The gateway's Prometheus metrics, declared on a registry owned by the app (no global registry).

A leaf: it imports nothing of the gateway. What is observed, and when, lives with the code that observes
it (the chat path's in :mod:`tutorbook_gateway.chat.measuring`).
"""

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
ROUND_TRIP_BUCKETS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0)
PHASE_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
ROUTES = ("rag", "adapter", "adapter+rag", "prompt", "abstain")


@dataclass(frozen=True)
class GatewayMetrics:
    registry: CollectorRegistry
    requests: Counter
    request_seconds: Histogram
    first_token_seconds: Histogram
    phase_seconds: Histogram
    redis_round_trips: Histogram
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
    adapter_fallbacks: Counter
    generator_replica_skips: Counter
    claims: Counter
    answers_withheld: Counter
    runaway_answers: Counter
    claims_judged: Counter
    feedback_by_claims: Counter
    rollout_answers: Counter
    rollout_answer_seconds: Histogram
    rollout_comparisons: Counter
    rollout_decisions: Counter


def chat_metrics(registry: CollectorRegistry) -> dict[str, Counter | Histogram]:
    def counter(name: str, documentation: str, labels: list[str]) -> Counter:
        return Counter(f"tutorbook_gateway_{name}", documentation, labels, registry=registry)

    def histogram(name: str, documentation: str, labels: list[str], buckets: tuple[float, ...]) -> Histogram:
        return Histogram(f"tutorbook_gateway_{name}", documentation, labels, registry=registry, buckets=buckets)

    return {
        "requests": counter(
            "chat_requests",
            "Chat requests by route, answering model (base, an adapter's name, none) and HTTP status",
            ["route", "model", "status"],
        ),
        "request_seconds": histogram(
            "chat_request_duration_seconds", "End-to-end chat latency by route", ["route"], LATENCY_BUCKETS
        ),
        "first_token_seconds": histogram(
            "time_to_first_token_seconds",
            "Time from request to the first streamed content token, by route",
            ["route"],
            LATENCY_BUCKETS,
        ),
        "phase_seconds": histogram(
            "phase_duration_seconds", "Latency of each phase (retrieve, route, generate)", ["phase"], PHASE_BUCKETS
        ),
        "redis_round_trips": histogram(
            "redis_round_trips",
            "Redis round trips on a chat request's path (admission, session, cache, record), by route",
            ["route"],
            ROUND_TRIP_BUCKETS,
        ),
        "router_decisions": counter(
            "router_decisions",
            "Router decisions by route and the rule that decided (cache hits are not decisions)",
            ["route", "rule"],
        ),
        "retrieval_top_score": histogram(
            "retrieval_top_score", "Best retrieval score per routed request", [], SCORE_BUCKETS
        ),
        "cache_lookups": counter(
            "cache_lookups",
            "Response cache lookups: hit, miss, stale (the index changed) or bypass (not deterministic)",
            ["result"],
        ),
    }


def claim_metrics(registry: CollectorRegistry) -> dict[str, Counter]:
    """The claim check's verdicts and what it withheld (docs/answers.md)."""

    def counter(name: str, documentation: str, labels: list[str]) -> Counter:
        return Counter(f"tutorbook_gateway_{name}", documentation, labels, registry=registry)

    return {
        "claims": counter(
            "answer_claims",
            "Checked sentences of answers written from passages, by route, answering model and verdict",
            ["route", "model", "verdict"],
        ),
        "answers_withheld": counter(
            "answers_withheld",
            "Answers whose unsupported sentences were dropped (withheld) or left nothing to say (not_sure)",
            ["route", "model", "outcome"],
        ),
        "runaway_answers": counter(
            "runaway_answers", "Answers ended at a repeated sentence or the sentence budget, by route", ["route"]
        ),
        "claims_judged": counter(
            "claims_judged",
            "Claims the judge model was asked about: upheld, overruled (support given or withdrawn), or "
            "failed (the judge could not answer: the check's verdicts stand)",
            ["outcome"],
        ),
    }


def service_metrics(registry: CollectorRegistry) -> dict[str, Counter]:
    def counter(name: str, documentation: str, labels: list[str]) -> Counter:
        return Counter(f"tutorbook_gateway_{name}", documentation, labels, registry=registry)

    return {
        "auth_failures": counter("auth_failures", "Refused credentials by reason", ["reason"]),
        "upstream_errors": counter("upstream_errors", "Failed upstream calls by service and kind", ["service", "kind"]),
        "state_errors": counter(
            "state_errors",
            "State store (Redis) operations that failed and were degraded, by component",
            ["component"],
        ),
        "rate_limited": counter(
            "rate_limited_requests", "Requests refused with 429, by the limit reached (requests or tokens)", ["limit"]
        ),
        "feedback": counter(
            "feedback", "Feedback on answers by the route that produced them and the rating", ["route", "rating"]
        ),
        "feedback_by_claims": counter(
            "feedback_by_claims",
            "Feedback on checked answers by how the claim check found them and the rating",
            ["claims", "rating"],
        ),
        "adapter_uploads": counter("adapter_uploads", "Adapter uploads by result (stored, refused)", ["result"]),
        "adapter_refusals": counter(
            "adapter_validation_refusals", "Adapter uploads refused by validation, by reason", ["reason"]
        ),
        "adapter_loads": counter(
            "adapter_loads",
            "Adapter loads and unloads on generator replicas, by replica and result",
            ["replica", "action", "result"],
        ),
        "generator_replica_skips": counter(
            "generator_replica_skips",
            "Generations sent to the next generator replica instead, by replica and why",
            ["replica", "reason"],
        ),
        "adapter_fallbacks": counter(
            "adapter_fallbacks",
            "Requests the router sent to an adapter the generator did not serve, answered without it",
            ["adapter"],
        ),
    }


def rollout_metrics(registry: CollectorRegistry) -> dict[str, Counter | Histogram]:
    """A rollout's versions side by side (``role``: the active version, the candidate answering users as
    the canary, or the candidate in shadow)."""
    return {
        "rollout_answers": Counter(
            "tutorbook_gateway_rollout_answers",
            "Answers by an adapter version in a rollout, by its role there and outcome (ok, failed)",
            ["adapter", "version", "role", "outcome"],
            registry=registry,
        ),
        "rollout_answer_seconds": Histogram(
            "tutorbook_gateway_rollout_answer_duration_seconds",
            "Latency of answers by an adapter version in a rollout, by its role there",
            ["adapter", "version", "role"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        ),
        "rollout_comparisons": Counter(
            "tutorbook_gateway_rollout_comparisons",
            "Requests answered by both versions of a rollout (same, different), dropped (a full queue, no quiet "
            "moment), or cancelled because a user's request came (gave_way)",
            ["adapter", "outcome"],
            registry=registry,
        ),
        "rollout_decisions": Counter(
            "tutorbook_gateway_rollout_decisions",
            "How rollouts ended (promoted, rolled_back, aborted), counted by the replica that decided",
            ["adapter", "state"],
            registry=registry,
        ),
    }


def create_gateway_metrics() -> GatewayMetrics:
    registry = CollectorRegistry()
    families = {
        **chat_metrics(registry), **claim_metrics(registry), **service_metrics(registry), **rollout_metrics(registry)
    }  # fmt: skip
    metrics = GatewayMetrics(registry=registry, **families)  # type: ignore[arg-type]
    initialise_series(metrics)
    return metrics


def initialise_series(metrics: GatewayMetrics) -> None:
    """Create the label sets ops' queries divide by or alert on, at zero, so that "nothing happened"
    reads as 0 rather than as no data."""
    for service in ("retriever", "generator"):
        for kind in ("upstream_error", "upstream_timeout", "upstream_unavailable"):
            metrics.upstream_errors.labels(service=service, kind=kind)
    metrics.upstream_errors.labels(service="generator", kind="generator_busy")
    for component in ("cache", "sessions", "rate_limits", "feedback"):
        metrics.state_errors.labels(component=component)
    for limit in ("requests", "tokens", "requests_in_flight"):
        metrics.rate_limited.labels(limit=limit)
    for result in ("hit", "miss", "stale", "bypass", "semantic_hit"):
        metrics.cache_lookups.labels(result=result)
    for route in ROUTES:
        for rating in ("up", "down"):
            metrics.feedback.labels(route=route, rating=rating)
    for route in ("rag", "adapter+rag"):
        for verdict in ("supported", "unsupported", "hedge"):
            metrics.claims.labels(route=route, model="base", verdict=verdict)
        for outcome in ("withheld", "not_sure"):
            metrics.answers_withheld.labels(route=route, model="base", outcome=outcome)
        metrics.runaway_answers.labels(route=route)
    for outcome in ("upheld", "overruled", "failed"):
        metrics.claims_judged.labels(outcome=outcome)
    for claims in ("supported", "unsupported", "withheld"):
        for rating in ("up", "down"):
            metrics.feedback_by_claims.labels(claims=claims, rating=rating)
    for result in ("stored", "refused"):
        metrics.adapter_uploads.labels(result=result)
