"""Start a service as a child process, wait until it answers a probe, stop it."""

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


class ServiceFailedError(RuntimeError):
    """A service exited or did not become ready in time."""


@dataclass
class ServiceProcess:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    started_at: float
    ready_after: float | None = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is not None:
            return
        # Each service leads its own process group, so vLLM's engine workers stop with it.
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)


def start_service(
    name: str, command: list[str], env: dict[str, str], log_dir: Path, append: bool = False
) -> ServiceProcess:
    """Start ``command`` in its own process group, its output in ``<log_dir>/<name>.log`` (appended to on
    a restart, so the log of the run that died stays)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab" if append else "wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    return ServiceProcess(name=name, process=process, log_path=log_path, started_at=time.monotonic())


def wait_ready(service: ServiceProcess, url: str, timeout: float) -> float:
    """Poll ``url`` until it answers 200; returns the seconds from start to ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise ServiceFailedError(
                f"{service.name} exited with code {service.process.returncode}; log {service.log_path}:\n"
                + service.log_tail()
            )
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                service.ready_after = time.monotonic() - service.started_at
                return service.ready_after
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise ServiceFailedError(
        f"{service.name} not ready after {timeout:.0f} s; log {service.log_path}:\n" + service.log_tail()
    )
