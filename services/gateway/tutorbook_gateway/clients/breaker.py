"""A circuit breaker per upstream: after ``failures`` calls in a row that timed out, calls fail at once
(503 with Retry-After) for ``open_seconds``, so a hung generator or retriever does not hold every request,
connection and worker for a whole timeout. Then one call is let through: its success closes the circuit,
its failure opens it again. Answers, even errors, are not failures, and neither is a refused connection
(it fails fast by itself, and a service still starting refuses connections): only an upstream that
accepts a call and does not answer it is."""

import asyncio
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import aiohttp

from tutorbook_gateway.clients.upstream import UpstreamCallTimeoutError, UpstreamUnreachableError, connection_failure


class CircuitBreaker:
    def __init__(
        self, service: str, failures: int, open_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.service = service
        self._failures_to_open = failures
        self._open_seconds = open_seconds
        self._clock = clock
        self._failures = 0
        self._open_until: float | None = None  # None: closed
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def before_call(self) -> None:
        """Raises while the circuit is open; lets one probing call through once the wait is over."""
        if self._open_until is None or self._failures_to_open <= 0:
            return
        wait = self._open_until - self._clock()
        if wait <= 0 and not self._probing:
            self._probing = True
            return
        error = UpstreamUnreachableError(
            self.service, f"{self._failures} calls in a row failed; not called again for {max(wait, 0):.0f} s"
        )
        error.headers = {"Retry-After": str(max(1, math.ceil(wait)))}
        raise error

    @contextmanager
    def guard(self) -> Iterator[None]:
        """One call to the service: refused while open; an answer (even an error) closes the circuit, a
        timeout counts against it (504), a refused or lost connection is a 503 to retry."""
        self.before_call()
        try:
            yield
        except TimeoutError as exc:
            self.failed()
            raise UpstreamCallTimeoutError(self.service) from exc
        except aiohttp.ClientError as exc:  # fails fast by itself: nothing to break
            self.not_answered()
            raise connection_failure(self.service, exc) from exc
        except asyncio.CancelledError:
            self.not_answered()
            raise
        self.succeeded()

    def not_answered(self) -> None:
        """The call ended without an answer and without timing out (refused, dropped, cancelled): that does
        not count against a closed circuit, but a probe that ends so leaves it open for another wait."""
        if self._probing:
            self.failed()

    def succeeded(self) -> None:
        self._failures, self._open_until, self._probing = 0, None, False

    def failed(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self._failures_to_open > 0:
            self._open_until = self._clock() + self._open_seconds
            self._probing = False
