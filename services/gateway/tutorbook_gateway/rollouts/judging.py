"""The rollout's decision from its evidence: roll back as soon as a rate shows the candidate worse, promote
once every criterion shows it no worse on enough requests, else wait (:mod:`.stats` says why intervals).

Roll back, at once, when any of these holds at 99% (the evidence is looked at again every second, and
each look is another chance of a false alarm: the stricter interval keeps a candidate as good as the active
version from being rolled back by chance; tests/unit/test_rollout_decisions.py simulates it):
- at least ``MIN_FAILURES`` of its answers failed, and its error rate is above ``max_error_rate`` and above
  the active version's over the same time (the interval's bottom is above both: an outage that fails both
  versions is not the candidate's);
- a classifier agrees with the active version's label less often than ``min_agreement`` (the top is below);
- its answers are rated unhelpful more often than the active version's (the intervals do not overlap);
- fewer of the answers it wrote from passages were free of unsupported claims than the active version's
  (the intervals do not overlap; counted per answer, as the claims of one answer stand or fall together).

Promote when all of these hold:
- at least ``min_requests`` answers by the candidate;
- its error rate at most ``max_error_rate`` (the interval's top is);
- its p95 latency at most ``latency_margin`` above the active version's, each over ``min_latencies``
  answers to users (a shadow answer's time is generation alone, on an idle engine: not comparable, so a
  rollout with no canary gathers evidence but is promoted by hand);
- a classifier: at least ``min_comparisons`` requests answered by both, agreement at least
  ``min_agreement`` (the interval's bottom is), and its agreement-weighted confidence (its confidence where
  it gave the active version's label, 0 where it did not) at most ``confidence_margin`` below the active
  version's confidence on the same requests.

Feedback and claims can roll back, never hold a promotion: with little of either, their intervals overlap,
and the criteria above decide. Agreement is judged against the version users have today: a candidate
that is better by changing many answers shows as disagreeing; set ``auto`` to false and promote it by hand.
"""

from tutorbook_gateway.rollouts.evidence import Evidence, Verdict, VersionFigures
from tutorbook_gateway.rollouts.model import Criteria
from tutorbook_gateway.rollouts.stats import Z_99, percentile, wilson


def judge(criteria: Criteria, evidence: Evidence, classifier: bool) -> tuple[Verdict, list[str]]:
    against = regressions(criteria, evidence, classifier)
    if against:
        return "roll_back", against
    missing = shortfalls(criteria, evidence, classifier)
    return ("wait", missing) if missing else ("promote", promotion_reasons(criteria, evidence, classifier))


MIN_FAILURES = 3  # one or two failures are never enough: anything on the path can fail once


def errors_regress(failed: int, answers: int, failed_before: int, answers_before: int, bound: float) -> bool:
    """The candidate fails more often than ``bound`` and than the active version, at 99%."""
    low = wilson(failed, answers, Z_99)[0]
    return failed >= MIN_FAILURES and low > bound and low > wilson(failed_before, answers_before, Z_99)[1]


def regressions(criteria: Criteria, evidence: Evidence, classifier: bool) -> list[str]:
    found = []
    candidate, active = evidence.candidate, evidence.active
    if errors_regress(candidate.failed, candidate.answers, active.failed, active.answers, criteria.max_error_rate):
        low, high = wilson(candidate.failed, candidate.answers, Z_99)
        found.append(
            f"{candidate.failed} of {candidate.answers} candidate answers failed (the active version's: "
            f"{active.failed} of {active.answers}): error rate {low:.2f}-{high:.2f} (99%), "
            f"above {criteria.max_error_rate:.2f}"
        )
    if classifier and evidence.compared:
        low, high = wilson(evidence.same, evidence.compared, Z_99)
        if high < criteria.min_agreement:
            found.append(
                f"the candidate gave the active version's label on {evidence.same} of {evidence.compared} requests: "
                f"agreement {low:.2f}-{high:.2f} (99%), below {criteria.min_agreement:.2f}"
            )
    if worse(candidate.unhelpful, candidate.rated, active.unhelpful, active.rated):
        found.append(
            f"rated unhelpful {candidate.unhelpful} of {candidate.rated} times, against {active.unhelpful} of "
            f"{active.rated} for the active version (99% intervals apart)"
        )
    if worse(candidate.flagged, candidate.checked, active.flagged, active.checked):
        found.append(
            f"{candidate.flagged} of {candidate.checked} answers from passages had an unsupported claim, against "
            f"{active.flagged} of {active.checked} for the active version (99% intervals apart)"
        )
    return found


def worse(bad: int, total: int, bad_before: int, total_before: int) -> bool:
    """The candidate's share of bad outcomes is higher than the active version's, with 99% intervals apart."""
    if total == 0 or total_before == 0:
        return False
    return wilson(bad, total, Z_99)[0] > wilson(bad_before, total_before, Z_99)[1]


def shortfalls(criteria: Criteria, evidence: Evidence, classifier: bool) -> list[str]:
    """What the candidate has not shown yet (empty: it may be promoted)."""
    missing = []
    candidate = evidence.candidate
    if candidate.answers < criteria.min_requests:
        missing.append(f"{candidate.answers} of {criteria.min_requests} candidate answers")
    high = wilson(candidate.failed, candidate.answers)[1]
    if high > criteria.max_error_rate:
        missing.append(f"error rate up to {high:.2f} (95%), not yet at most {criteria.max_error_rate:.2f}")
    missing += latency_shortfall(criteria, evidence.active, candidate)
    if classifier:
        missing += agreement_shortfall(criteria, evidence)
    return missing


def latency_shortfall(criteria: Criteria, active: VersionFigures, candidate: VersionFigures) -> list[str]:
    if min(len(active.seconds), len(candidate.seconds)) < criteria.min_latencies:
        return [
            f"latencies: {len(candidate.seconds)} candidate and {len(active.seconds)} active answers to users, "
            f"{criteria.min_latencies} each needed"
        ]
    mine, theirs = percentile(candidate.seconds, 0.95), percentile(active.seconds, 0.95)
    assert mine is not None and theirs is not None
    bound = theirs * (1 + criteria.latency_margin)
    return [] if mine <= bound else [f"p95 {mine:.3f} s, above {bound:.3f} s (the active version's {theirs:.3f} s)"]


def agreement_shortfall(criteria: Criteria, evidence: Evidence) -> list[str]:
    if evidence.compared < criteria.min_comparisons:
        return [f"{evidence.compared} of {criteria.min_comparisons} requests answered by both versions"]
    missing = []
    low = wilson(evidence.same, evidence.compared)[0]
    if low < criteria.min_agreement:
        missing.append(f"agreement from {low:.2f} (95%), not yet at least {criteria.min_agreement:.2f}")
    weighted = evidence.weighted_confidence / evidence.compared
    reference = evidence.active_confidence / evidence.compared
    if weighted < reference - criteria.confidence_margin:
        missing.append(
            f"agreement-weighted confidence {weighted:.2f}, more than {criteria.confidence_margin:.2f} below "
            f"the active version's {reference:.2f}"
        )
    return missing


def promotion_reasons(criteria: Criteria, evidence: Evidence, classifier: bool) -> list[str]:
    candidate = evidence.candidate
    high = wilson(candidate.failed, candidate.answers)[1]
    reasons = [
        f"{candidate.answers} candidate answers, {candidate.failed} failed (error rate at most {high:.2f}, 95%)",
        f"p95 {percentile(candidate.seconds, 0.95):.3f} s against {percentile(evidence.active.seconds, 0.95):.3f} s",
    ]
    if classifier:
        low = wilson(evidence.same, evidence.compared)[0]
        reasons.append(f"the active version's label on {evidence.same} of {evidence.compared} (from {low:.2f}, 95%)")
    return reasons
