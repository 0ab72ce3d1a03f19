"""The capacity model's simulation of the load tool: users sharing a machine whose cores the rest of each
answer and vLLM share, whose generations batch as measured (``speedup``) and wait in line for the
gateway's slots."""

import pytest

from tutorbook_devstack.capacity_model import Machine, Sample, machines_needed, predicted

GENERATING = [Sample(1.0, generating=1.0)]  # a second of generation, nothing else
RESTING = [Sample(1.0, generating=0.0)]  # a second of the rest (a cache hit, say)


def machine(speedups: dict[int, float], slots: int = 64, rest_cores: float = 1.0) -> Machine:
    return Machine(cores=2, rest_cores=rest_cores, slots=slots, speedups=speedups)


def p50(model: Machine, samples: list[Sample], users: int) -> float:
    return predicted(model, samples, users, seconds=60, runs=2)["p50_ms"]


def test_one_user_waits_for_nothing() -> None:
    assert p50(machine({2: 1.0}), GENERATING, 1) == pytest.approx(1000)
    assert p50(machine({2: 1.0}), [Sample(2.0, generating=0.5)], 1) == pytest.approx(2000)


def test_without_batching_n_generating_users_wait_n_times_as_long() -> None:
    no_gain = machine({2: 1.0, 32: 1.0})
    assert p50(no_gain, GENERATING, 8) == pytest.approx(8000, rel=0.02)
    assert predicted(no_gain, GENERATING, 8, 60, runs=2)["requests_per_second"] == pytest.approx(1.0, rel=0.05)


def test_with_perfect_batching_nobody_waits_until_the_slots_are_full() -> None:
    perfect = {2: 2.0, 32: 32.0}
    assert p50(machine(perfect), GENERATING, 16) == pytest.approx(1000)
    assert p50(machine(perfect, slots=4), GENERATING, 8) == pytest.approx(2000, rel=0.02)  # half in line


def test_the_rest_shares_the_cores_and_does_not_batch() -> None:
    one_core_each = machine({2: 2.0, 32: 32.0}, rest_cores=1.0)
    assert p50(one_core_each, RESTING, 2) == pytest.approx(1000)  # two cores, two at full speed
    assert p50(one_core_each, RESTING, 8) == pytest.approx(4000, rel=0.02)


def test_vllm_at_work_takes_the_cores_the_rest_would_use() -> None:
    shared = machine({2: 2.0, 32: 32.0}, rest_cores=1.0)
    mixed = [Sample(1.0, generating=1.0), Sample(1.0, generating=0.0)]
    assert p50(shared, mixed, 2) > 1000 * 1.2  # vLLM wants both cores while a rest wants one


def test_the_speedup_is_interpolated_between_measured_points_and_flat_beyond() -> None:
    measured = machine({4: 2.5, 8: 4.0})
    assert measured.speedup(1) == 1.0 and measured.speedup(6) == pytest.approx(3.25)
    assert measured.speedup(32) == 4.0


def test_machines_needed_divide_the_rate_by_what_one_machine_answered_at_best() -> None:
    assert machines_needed(100, answers_per_second_per_machine=4.0) == 25
