"""The circuit breaker's states with a fake clock (tests/integration/test_hung_generator.py: real HTTP)."""

import pytest

from tutorbook_gateway.clients.breaker import CircuitBreaker
from tutorbook_gateway.clients.upstream import UpstreamUnreachableError


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_it_opens_after_failures_in_a_row_lets_one_probe_through_and_closes_on_success() -> None:
    clock = Clock()
    breaker = CircuitBreaker("generator", failures=3, open_seconds=10, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.failed()
    breaker.before_call()
    breaker.succeeded()  # a success in between: the count starts again
    for _ in range(3):
        breaker.before_call()
        breaker.failed()
    with pytest.raises(UpstreamUnreachableError, match="3 calls in a row failed") as refused:
        breaker.before_call()
    assert refused.value.status_code == 503 and refused.value.headers["Retry-After"] == "10"
    clock.now = 10.0
    breaker.before_call()  # the probe
    with pytest.raises(UpstreamUnreachableError):
        breaker.before_call()  # only one probe at a time
    breaker.succeeded()
    breaker.before_call()
    assert not breaker.is_open


def test_a_failed_probe_opens_it_again() -> None:
    clock = Clock()
    breaker = CircuitBreaker("retriever", failures=1, open_seconds=5, clock=clock)
    breaker.before_call()
    breaker.failed()
    clock.now = 5.0
    breaker.before_call()
    breaker.failed()
    with pytest.raises(UpstreamUnreachableError):
        breaker.before_call()
    clock.now = 9.0
    with pytest.raises(UpstreamUnreachableError):
        breaker.before_call()
    clock.now = 10.0
    breaker.before_call()  # the next probe, let through
    assert breaker.is_open  # until it answers
    with pytest.raises(UpstreamUnreachableError):
        breaker.before_call()  # one probe at a time


def test_a_probe_that_gets_no_answer_keeps_it_open_and_does_not_wedge_it() -> None:
    """A probe refused, dropped or cancelled neither closes the circuit nor leaves it waiting for a probe
    that will never report: the circuit opens for another wait, then probes again."""
    clock = Clock()
    breaker = CircuitBreaker("generator", failures=1, open_seconds=5, clock=clock)
    breaker.before_call()
    breaker.failed()
    clock.now = 5.0
    breaker.before_call()  # the probe
    breaker.not_answered()
    with pytest.raises(UpstreamUnreachableError):
        breaker.before_call()
    clock.now = 10.0
    breaker.before_call()  # probing again
    breaker.succeeded()
    assert not breaker.is_open
    breaker.before_call()
    breaker.not_answered()  # a closed circuit does not count it
    assert not breaker.is_open
    breaker.before_call()


def test_zero_failures_switches_it_off() -> None:
    """No number of timeouts in a row opens it: every call goes through, a guarded timeout still a 504."""
    from tutorbook_gateway.clients.upstream import UpstreamCallTimeoutError

    clock = Clock()
    breaker = CircuitBreaker("generator", failures=0, open_seconds=5, clock=clock)
    for _ in range(10):
        breaker.before_call()
        breaker.failed()
        assert not breaker.is_open
    for _ in range(10):
        with pytest.raises(UpstreamCallTimeoutError), breaker.guard():  # let through, and counted for nothing
            raise TimeoutError
    assert not breaker.is_open
    clock.now = 1.0  # within what would have been the wait
    breaker.before_call()  # let through, not refused with a 503
    assert not breaker.is_open


async def test_a_guarded_call_maps_its_outcome_and_probes_once() -> None:
    """What a call through ``guard`` becomes: a timeout is a 504 that counts, a lost connection a 503 that
    does not; once the wait is over, exactly one guarded call probes, and its answer closes the circuit."""
    import aiohttp

    from tutorbook_gateway.clients.upstream import UpstreamCallTimeoutError

    clock = Clock()
    breaker = CircuitBreaker("retriever", failures=1, open_seconds=5, clock=clock)
    with pytest.raises(UpstreamUnreachableError, match="connection lost"), breaker.guard():
        raise aiohttp.ServerDisconnectedError()
    breaker.before_call()  # still closed: a lost connection does not count
    with pytest.raises(UpstreamCallTimeoutError), breaker.guard():
        raise TimeoutError
    with pytest.raises(UpstreamUnreachableError):
        breaker.before_call()  # open
    clock.now = 5.0
    with breaker.guard():
        pass  # the probe answered
    assert not breaker.is_open
    breaker.before_call()
    breaker.before_call()  # closed again: more than one call at a time
