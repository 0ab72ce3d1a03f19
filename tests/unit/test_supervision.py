"""make run keeps the stack up when one service dies: restarted with backoff, given up on when it keeps
dying (a fake clock and fake processes; tests/integration/test_supervision.py uses real ones)."""

from pathlib import Path
from typing import Any

import pytest

from tutorbook_devstack.processes import ServiceProcess
from tutorbook_devstack.supervision import RestartPolicy, ServiceKeepsFailingError, Supervisor


class FakeProcess:
    def __init__(self) -> None:
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


def service(name: str) -> ServiceProcess:
    return ServiceProcess(name, FakeProcess(), Path(f"/nonexistent/{name}.log"), 0.0)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def supervised(policy: RestartPolicy) -> tuple[Supervisor, Clock, list[str], list[str]]:
    clock, lines, restarted = Clock(), list[str](), list[str]()

    def restart(name: str) -> ServiceProcess:
        restarted.append(name)
        return service(name)

    services = {"retriever": service("retriever"), "gateway": service("gateway")}
    return Supervisor(services, restart, policy, lines.append, clock), clock, lines, restarted


def die(supervisor: Supervisor, name: str, code: int = -9) -> None:
    process: Any = supervisor.services[name].process
    process.returncode = code


def test_a_service_that_dies_is_restarted_after_a_growing_backoff_and_the_others_keep_running() -> None:
    supervisor, clock, lines, restarted = supervised(RestartPolicy(max_restarts=5, backoff_seconds=(1, 2, 4)))
    die(supervisor, "retriever")
    supervisor.check()
    assert restarted == [] and "retriever: exited with code -9; restarting in 1 s" in lines[0]
    clock.now = 1.0
    supervisor.check()
    assert restarted == ["retriever"] and lines[-1] == "retriever: restarted"
    die(supervisor, "retriever")
    clock.now = 2.0
    supervisor.check()
    assert "restarting in 2 s" in lines[-1]  # the second death in the window waits longer
    clock.now = 3.0
    supervisor.check()
    assert restarted == ["retriever"]
    clock.now = 4.0
    supervisor.check()
    assert restarted == ["retriever", "retriever"]
    assert supervisor.services["gateway"].process.poll() is None  # never touched


def test_a_service_that_keeps_dying_stops_the_stack_with_its_log() -> None:
    supervisor, clock, _, restarted = supervised(RestartPolicy(max_restarts=2, backoff_seconds=(1,)))
    for _ in range(2):
        die(supervisor, "gateway", code=1)
        supervisor.check()
        clock.now += 1
        supervisor.check()
    die(supervisor, "gateway", code=1)
    with pytest.raises(ServiceKeepsFailingError, match="gateway exited \\(code 1\\) 3 times"):
        supervisor.check()
    assert restarted == ["gateway", "gateway"]


def test_deaths_long_ago_are_forgiven() -> None:
    supervisor, clock, lines, _ = supervised(RestartPolicy(max_restarts=1, window_seconds=60, backoff_seconds=(1,)))
    die(supervisor, "retriever")
    supervisor.check()
    clock.now = 1.0
    supervisor.check()
    clock.now = 100.0  # the first death is outside the window now
    die(supervisor, "retriever")
    supervisor.check()
    assert "restarting in 1 s" in lines[-1]


def die_and_restart(supervisor: Supervisor, clock: Clock, name: str, at: float) -> None:
    """``name`` dies at ``at`` and is restarted once its backoff is over."""
    clock.now = at
    die(supervisor, name)
    supervisor.check()
    clock.now = supervisor.due[name]
    supervisor.check()
    assert name not in supervisor.due and supervisor.services[name].process.poll() is None


def test_by_default_the_sixth_death_within_five_minutes_stops_the_stack() -> None:
    """The limits the README states: the stack stops when one service dies more than 5 times in 5 minutes."""
    policy = RestartPolicy()
    assert (policy.max_restarts, policy.window_seconds) == (5, 300.0)
    supervisor, clock, lines, restarted = supervised(policy)
    for at in (0.0, 40.0, 80.0, 120.0, 160.0):
        die_and_restart(supervisor, clock, "retriever", at)
    assert restarted == ["retriever"] * 5 and "death 5 of at most 6 in 300 s" in lines[-2]
    clock.now = 299.0  # the first death is still within five minutes
    die(supervisor, "retriever")
    with pytest.raises(ServiceKeepsFailingError, match="retriever exited \\(code -9\\) 6 times in 300 s"):
        supervisor.check()
    assert restarted == ["retriever"] * 5


def test_by_default_deaths_more_than_five_minutes_ago_do_not_count() -> None:
    supervisor, clock, lines, restarted = supervised(RestartPolicy())
    for at in (0.0, 40.0, 80.0, 120.0, 160.0):
        die_and_restart(supervisor, clock, "retriever", at)
    die_and_restart(supervisor, clock, "retriever", 300.0)  # the first death is five minutes old: forgiven
    assert "death 5 of at most 6" in lines[-2] and restarted == ["retriever"] * 6
    die_and_restart(supervisor, clock, "retriever", 340.0)  # and the second one now
    assert "death 5 of at most 6" in lines[-2] and restarted == ["retriever"] * 7
