"""A rollout's evidence as Prometheus series, as it is recorded (the Grafana panel "Adapter rollouts")."""

from tutorbook_gateway.metrics import GatewayMetrics
from tutorbook_gateway.rollouts.evidence import Compared, Served
from tutorbook_gateway.rollouts.model import Rollout


def role_of(rollout: Rollout, served: Served) -> str:
    if served.version != rollout.candidate_version:
        return "active"
    return "shadow" if served.shadow else "candidate"


def observe_served(metrics: GatewayMetrics, rollout: Rollout, served: Served) -> None:
    role, version = role_of(rollout, served), str(served.version)
    outcome = "failed" if served.failed else "ok"
    metrics.rollout_answers.labels(adapter=rollout.name, version=version, role=role, outcome=outcome).inc()
    if not served.failed:
        metrics.rollout_answer_seconds.labels(adapter=rollout.name, version=version, role=role).observe(served.seconds)


def observe_compared(
    metrics: GatewayMetrics, rollout: Rollout, compared: Compared | None, gave_way: bool = False
) -> None:
    """One comparison (None: dropped, for a full queue or no quiet moment; or it gave way to a user)."""
    outcome = "gave_way" if gave_way else "dropped" if compared is None else "same" if compared.same else "different"
    metrics.rollout_comparisons.labels(adapter=rollout.name, outcome=outcome).inc()
