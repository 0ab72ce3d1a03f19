"""``make ha-check``'s reading of its probe: the seconds from the kill until a client of the sentinels could
write again."""

import pytest

from tutorbook_devstack.ha_check import seconds_without_redis


def test_the_outage_runs_from_the_kill_to_the_first_write_after_a_failure() -> None:
    outcomes = [(9.0, True), (10.1, True), (10.2, False), (11.0, False), (13.5, True), (13.6, True)]
    assert seconds_without_redis(outcomes, killed_at=10.0) == pytest.approx(3.5)


def test_no_failed_write_is_no_outage() -> None:
    assert seconds_without_redis([(10.5, True), (11.0, True)], killed_at=10.0) == 0.0
