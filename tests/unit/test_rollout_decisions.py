"""A rollout's decision from its evidence: honest at small counts (it waits rather than guesses), rolls a
bad candidate back within a handful of requests, promotes one that is no worse on enough of them."""

import random

import pytest

from tutorbook_gateway.rollouts.evidence import Compared, Event, Rated, Served, gathered
from tutorbook_gateway.rollouts.judging import errors_regress, judge
from tutorbook_gateway.rollouts.model import Criteria
from tutorbook_gateway.rollouts.stats import percentile, wilson

ACTIVE, CANDIDATE = 1, 2


def answers(version: int, count: int, seconds: float = 0.5, failed: int = 0) -> list[Event]:
    return [Served(version=version, seconds=seconds, failed=index < failed) for index in range(count)]


def comparisons(count: int, same: int, confidence: float = 0.8) -> list[Event]:
    return [
        Compared(same=index < same, active_confidence=confidence, candidate_confidence=confidence)
        for index in range(count)
    ]


def test_the_wilson_interval_is_wide_at_small_counts_and_never_zero_width() -> None:
    assert wilson(0, 3) == pytest.approx((0.0, 0.5615), abs=1e-4)
    assert wilson(3, 3) == pytest.approx((0.4385, 1.0), abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(45, 50)
    assert 0.78 < low < 0.79 and 0.95 < high < 0.96


def test_the_p95_is_a_measured_value() -> None:
    assert percentile([float(n) for n in range(1, 21)], 0.95) == 19.0
    assert percentile([], 0.95) is None


def test_a_candidate_that_never_gives_the_active_label_is_rolled_back_within_a_few_requests() -> None:
    criteria = Criteria()
    for count in range(1, 10):
        evidence = gathered(answers(ACTIVE, 50) + answers(CANDIDATE, count) + comparisons(count, 0), CANDIDATE)
        verdict, reasons = judge(criteria, evidence, classifier=True)
        if verdict == "roll_back":
            break
    assert verdict == "roll_back" and count <= 3, (count, reasons)
    assert "agreement" in reasons[0]


def test_a_candidate_that_agrees_and_is_as_fast_is_promoted_only_after_enough_requests() -> None:
    criteria = Criteria(min_requests=50, min_comparisons=20)
    few = gathered(answers(ACTIVE, 100) + answers(CANDIDATE, 30) + comparisons(30, 29), CANDIDATE)
    verdict, reasons = judge(criteria, few, classifier=True)
    assert verdict == "wait"
    assert reasons == ["30 of 50 candidate answers", "error rate up to 0.11 (95%), not yet at most 0.10"]
    enough = gathered(answers(ACTIVE, 100) + answers(CANDIDATE, 50) + comparisons(50, 48), CANDIDATE)
    verdict, reasons = judge(criteria, enough, classifier=True)
    assert verdict == "promote", reasons


def test_a_few_errors_are_not_enough_evidence_either_way_but_many_roll_back() -> None:
    criteria = Criteria(min_requests=10, max_error_rate=0.1)
    one = gathered(answers(ACTIVE, 50) + answers(CANDIDATE, 20, failed=1), CANDIDATE)
    assert judge(criteria, one, classifier=False)[0] == "wait"  # 1 of 20: 0.01-0.24, either side of 0.10
    once = gathered(answers(ACTIVE, 50) + answers(CANDIDATE, 1, failed=1), CANDIDATE)
    assert judge(criteria, once, classifier=False)[0] == "wait"  # one failure is never enough
    failing = gathered(answers(ACTIVE, 50) + answers(CANDIDATE, 3, failed=3), CANDIDATE)
    verdict, reasons = judge(criteria, failing, classifier=False)
    assert verdict == "roll_back" and "3 of 3 candidate answers failed" in reasons[0]
    outage = gathered(answers(ACTIVE, 50, failed=20) + answers(CANDIDATE, 10, failed=4), CANDIDATE)
    assert judge(criteria, outage, classifier=False)[0] == "wait"  # both versions fail: not the candidate's doing


def test_a_slower_candidate_waits_and_says_why() -> None:
    criteria = Criteria(min_requests=20, latency_margin=0.5)
    evidence = gathered(answers(ACTIVE, 40, seconds=1.0) + answers(CANDIDATE, 40, seconds=2.0), CANDIDATE)
    verdict, reasons = judge(criteria, evidence, classifier=False)
    assert verdict == "wait" and reasons == ["p95 2.000 s, above 1.500 s (the active version's 1.000 s)"]


def test_feedback_rolls_back_only_when_the_intervals_are_apart() -> None:
    criteria = Criteria(min_requests=20)
    base = answers(ACTIVE, 40) + answers(CANDIDATE, 40)
    close = [Rated(version=ACTIVE, helpful=index > 2) for index in range(20)]
    close += [Rated(version=CANDIDATE, helpful=index > 5) for index in range(20)]
    assert judge(criteria, gathered([*base, *close], CANDIDATE), classifier=False)[0] == "promote"
    apart = [Rated(version=ACTIVE, helpful=True) for _ in range(30)]
    apart += [Rated(version=CANDIDATE, helpful=index > 15) for index in range(20)]
    verdict, reasons = judge(criteria, gathered([*base, *apart], CANDIDATE), classifier=False)
    assert verdict == "roll_back" and "rated unhelpful 16 of 20 times" in reasons[0]


def test_unsupported_claims_roll_back_a_text_candidate() -> None:
    criteria = Criteria(min_requests=10)
    active = [Served(version=ACTIVE, seconds=1.0, claims=3, unsupported=0) for _ in range(20)]
    candidate = [Served(version=CANDIDATE, seconds=1.0, claims=3, unsupported=2) for _ in range(10)]
    verdict, reasons = judge(criteria, gathered(active + candidate, CANDIDATE), classifier=False)
    assert verdict == "roll_back" and "10 of 10 answers from passages had an unsupported claim" in reasons[0]


def test_a_classifier_less_sure_where_it_agrees_waits() -> None:
    criteria = Criteria(min_requests=20, min_comparisons=20, confidence_margin=0.1)
    unsure = [Compared(same=True, active_confidence=0.9, candidate_confidence=0.5) for _ in range(40)]
    evidence = gathered([*answers(ACTIVE, 40), *answers(CANDIDATE, 40), *unsure], CANDIDATE)
    verdict, reasons = judge(criteria, evidence, classifier=True)
    assert verdict == "wait" and "agreement-weighted confidence 0.50" in reasons[0]


def false_alarms(error_rate: float, rollouts: int = 1000, looks: int = 200) -> float:
    """Rollouts of a candidate as good as the active version (both fail at ``error_rate``), judged after
    every answer (as every replica looks once a second): the share ever rolled back on errors."""
    chance = random.Random(11)
    rolled_back = 0
    for _ in range(rollouts):
        failed = failed_before = 0
        for answered in range(1, looks + 1):
            failed += chance.random() < error_rate
            failed_before += sum(chance.random() < error_rate for _ in range(4))  # 80% of traffic stays
            if errors_regress(failed, answered, failed_before, 4 * answered, Criteria().max_error_rate):
                rolled_back += 1
                break
    return rolled_back / rollouts


def test_looking_again_and_again_rarely_rolls_back_a_candidate_as_good_as_the_active_one() -> None:
    assert false_alarms(0.05) < 0.01
    assert false_alarms(0.08) < 0.03


def test_a_candidate_that_fails_half_the_time_is_rolled_back_within_twenty_answers() -> None:
    chance = random.Random(5)
    caught = []
    for _ in range(500):
        failed = 0
        for answered in range(1, 21):
            failed += chance.random() < 0.5
            if errors_regress(failed, answered, 0, 4 * answered, Criteria().max_error_rate):
                caught.append(answered)
                break
    assert len(caught) / 500 > 0.95
