"""make run's supervisor with real processes: one killed with SIGKILL is started again with the same
command (its log appended to), and one that keeps failing stops the stack with its log."""

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
