"""make run's supervisor with real processes: one killed with SIGKILL is started again with the same
command (its log appended to), and one that keeps failing stops the stack with its log; the default
limits (5 restarts in 5 minutes) hold."""

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tutorbook_devstack.processes import ServiceProcess, start_service
from tutorbook_devstack.supervision import RestartPolicy, ServiceKeepsFailingError, Supervisor

FAST = RestartPolicy(max_restarts=2, window_seconds=60, backoff_seconds=(0.2,))


def supervise_until(supervisor: Supervisor, done: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the supervisor did not act in time"
        supervisor.check()
        time.sleep(0.05)


def wait_for_lines(log: Path, text: str, count: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while log.read_text().count(text) < count:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)


def test_a_killed_service_comes_back_and_a_failing_one_stops_the_stack(tmp_path: Path) -> None:
    sleeper = [sys.executable, "-c", "print('up', flush=True); import time; time.sleep(60)"]
    failing = [sys.executable, "-c", "print('cannot start: port in use', flush=True); raise SystemExit(3)"]
    commands = {"retriever": sleeper, "gateway": failing}
    services = {name: start_service(name, command, dict(os.environ), tmp_path) for name, command in commands.items()}

    def restart(name: str) -> ServiceProcess:
        return start_service(name, commands[name], dict(os.environ), tmp_path, append=True)

    lines: list[str] = []
    supervisor = Supervisor(services, restart, FAST, lines.append)
    first, log = services["retriever"].process.pid, tmp_path / "retriever.log"
    wait_for_lines(log, "up", 1)
    os.kill(first, signal.SIGKILL)
    try:
        with pytest.raises(ServiceKeepsFailingError, match="cannot start: port in use"):
            supervise_until(supervisor, lambda: False)
        restarted = services["retriever"]
        assert restarted.process.pid != first and restarted.process.poll() is None
        assert any(line.startswith("retriever: exited with code -9") for line in lines)
        wait_for_lines(log, "up", 2)  # the restarted run's line, after the first run's (kept)
    finally:
        for service in services.values():
            service.stop()


def test_the_default_limits_allow_five_restarts_in_five_minutes_and_stop_at_the_sixth_death(tmp_path: Path) -> None:
    """The default policy (5 restarts within 300 s) with real processes; only the backoff is shortened, so
    the six deaths fall within the default window in about a second."""
    failing = [sys.executable, "-c", "print('cannot start', flush=True); raise SystemExit(3)"]
    services = {"gateway": start_service("gateway", failing, dict(os.environ), tmp_path)}
    starts = [services["gateway"].process.pid]

    def restart(name: str) -> ServiceProcess:
        started = start_service(name, failing, dict(os.environ), tmp_path, append=True)
        starts.append(started.process.pid)
        return started

    lines: list[str] = []
    policy = RestartPolicy(backoff_seconds=(0.05,))
    assert (policy.max_restarts, policy.window_seconds) == (5, 300.0)  # the defaults, as documented
    supervisor = Supervisor(services, restart, policy, lines.append)
    try:
        with pytest.raises(ServiceKeepsFailingError, match="exited \\(code 3\\) 6 times in 300 s"):
            supervise_until(supervisor, lambda: False)
        assert len(starts) == 6 and len(set(starts)) == 6  # the first run and five restarts, each a new process
        assert [line.split("(death ")[1][:14] for line in lines if "restarting" in line] == [
            f"{n} of at most 6" for n in range(1, 6)
        ]
    finally:
        services["gateway"].stop()
