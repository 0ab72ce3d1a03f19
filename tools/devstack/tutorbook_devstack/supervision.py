"""Keep the stack running when one service dies: restart it with backoff and a log line, the way
compose's restart policy and Kubernetes do, and give up only when it keeps failing."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tutorbook_devstack.processes import ServiceProcess

BACKOFF_SECONDS = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)


class ServiceKeepsFailingError(RuntimeError):
    """A service died more often than the policy allows: stop everything."""


@dataclass(frozen=True)
class RestartPolicy:
    max_restarts: int = 5  # within window_seconds; one more death stops the stack
    window_seconds: float = 300.0
    backoff_seconds: tuple[float, ...] = BACKOFF_SECONDS


@dataclass
class Supervisor:
    """Call :meth:`check` every second or so. ``restart(name)`` starts the service again and returns it."""

    services: dict[str, ServiceProcess]
    restart: Callable[[str], ServiceProcess]
    policy: RestartPolicy = RestartPolicy()
    say: Callable[[str], None] = print
    clock: Callable[[], float] = time.monotonic
    deaths: dict[str, list[float]] = field(default_factory=dict)
    due: dict[str, float] = field(default_factory=dict)  # name -> when it restarts

    def check(self) -> None:
        now = self.clock()
        for name, service in list(self.services.items()):
            if name in self.due:
                if now >= self.due[name]:
                    del self.due[name]
                    self.services[name] = self.restart(name)
                    self.say(f"{name}: restarted")
            elif service.process.poll() is not None:
                self.schedule(name, service, now)

    def schedule(self, name: str, service: ServiceProcess, now: float) -> None:
        recent = [when for when in self.deaths.get(name, []) if now - when < self.policy.window_seconds]
        recent.append(now)
        self.deaths[name] = recent
        code = service.process.returncode
        if len(recent) > self.policy.max_restarts:
            raise ServiceKeepsFailingError(
                f"{name} exited (code {code}) {len(recent)} times in {self.policy.window_seconds:.0f} s; "
                f"giving up. Its log: {service.log_path}\n{service.log_tail()}"
            )
        delay = self.policy.backoff_seconds[min(len(recent), len(self.policy.backoff_seconds)) - 1]
        self.due[name] = now + delay
        self.say(
            f"{name}: exited with code {code}; restarting in {delay:.0f} s "
            f"(death {len(recent)} of at most {self.policy.max_restarts + 1} in {self.policy.window_seconds:.0f} s; "
            f"log {service.log_path})"
        )
