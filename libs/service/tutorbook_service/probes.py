"""``/healthz`` (alive), ``/readyz`` (dependencies answer) and ``/metrics`` (Prometheus) for Litestar services.

A service puts a :class:`Probes` on ``app.state.probes`` in its lifespan; the handlers only read it.
"""

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from litestar import Response, get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

ReadinessCheck = Callable[[], Awaitable[None]]
READINESS_TIMEOUT_SECONDS = 2.0
log = logging.getLogger("tutorbook.probes")
MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def exposed_registry(own: CollectorRegistry) -> CollectorRegistry:
    """What ``/metrics`` shows: the service's own registry, or, when several worker processes share their
    metrics through files (prometheus-client's multiprocess mode), every worker's values added up."""
    if not os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        return own
    aggregated = CollectorRegistry()
    multiprocess.MultiProcessCollector(aggregated)  # type: ignore[no-untyped-call]
    return aggregated


@dataclass
class Probes:
    registry: CollectorRegistry
    checks: dict[str, ReadinessCheck] = field(default_factory=dict)


async def run_checks(checks: dict[str, ReadinessCheck]) -> dict[str, str]:
    """Run every readiness check concurrently; each answers "ok" or "failed: <kind of error>". The error's
    text (addresses, hosts, paths) goes to the log, not to whoever asks: /readyz needs no key."""

    async def one(name: str, check: ReadinessCheck) -> str:
        try:
            await asyncio.wait_for(check(), READINESS_TIMEOUT_SECONDS)
        except Exception as exc:  # noqa: BLE001 - a failed dependency is the answer, not an error
            log.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
            return f"failed: {type(exc).__name__}"
        return "ok"

    names = list(checks)
    results = await asyncio.gather(*(one(name, checks[name]) for name in names))
    return dict(zip(names, results, strict=True))


@get("/healthz", include_in_schema=False, sync_to_thread=False)
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", include_in_schema=False)
async def readyz(state: State) -> Response[dict[str, Any]]:
    probes: Probes = state.probes
    results = await run_checks(probes.checks)
    ready = all(result == "ok" for result in results.values())
    body = {"status": "ready" if ready else "not ready", "checks": results}
    return Response(body, status_code=200 if ready else 503)


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics(state: State) -> Response[bytes]:
    probes: Probes = state.probes
    return Response(generate_latest(probes.registry), media_type=CONTENT_TYPE_LATEST)


PROBE_ROUTES = [healthz, readyz, metrics]
