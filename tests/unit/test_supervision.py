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
