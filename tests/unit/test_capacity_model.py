"""The capacity model's simulation: users sharing a machine whose throughput with n requests at once is
measured (``speedup``); with none of it, answers wait in proportion to the users; with all of it, not at all."""

import pytest

from tutorbook_devstack.capacity_model import ServiceTimes, machines_needed, predicted


def times(speedups: dict[int, float]) -> ServiceTimes:
    return ServiceTimes([1.0], cores_per_request=1.0, cores=2, speedups=speedups)


def test_without_batching_n_users_wait_n_times_as_long() -> None:
    no_gain = times({2: 1.0, 32: 1.0})
    assert predicted(no_gain, 1)["p50_ms"] == pytest.approx(1000)
    assert predicted(no_gain, 8)["p50_ms"] == pytest.approx(8000, rel=0.01)
    assert predicted(no_gain, 8)["requests_per_second"] == pytest.approx(1.0, rel=0.01)


def test_with_perfect_batching_nobody_waits() -> None:
    assert predicted(times({2: 2.0, 32: 32.0}), 16)["p50_ms"] == pytest.approx(1000)


def test_the_speedup_is_interpolated_between_measured_points_and_flat_beyond() -> None:
    measured = times({4: 2.5, 8: 4.0})
    assert measured.speedup(1) == 1.0 and measured.speedup(6) == pytest.approx(3.25)
    assert measured.speedup(32) == 4.0


def test_machines_needed_divide_the_rate_by_what_one_machine_answered_at_best() -> None:
    assert machines_needed(100, answers_per_second_per_machine=4.0) == 25
