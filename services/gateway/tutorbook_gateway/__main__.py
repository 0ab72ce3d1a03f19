"""``python -m tutorbook_gateway``: serve the gateway with uvicorn (one process, or several workers)."""

import os
import shutil
import tempfile
from pathlib import Path

import uvicorn

from tutorbook_config.service_settings import settings_or_exit
from tutorbook_gateway.app import create_app
from tutorbook_gateway.settings import GatewaySettings
from tutorbook_service.logs import configure_json_logging
from tutorbook_service.probes import MULTIPROCESS_DIR_VARIABLE


def prepare_multiprocess_metrics() -> None:
    """Several workers share their metrics through files (prometheus-client's multiprocess mode): an empty
    folder, named in the environment before the workers start, so each of them writes there."""
    folder = os.environ.get(MULTIPROCESS_DIR_VARIABLE) or tempfile.mkdtemp(prefix="tutorbook-gateway-metrics-")
    shutil.rmtree(folder, ignore_errors=True)
    Path(folder).mkdir(parents=True)
    os.environ[MULTIPROCESS_DIR_VARIABLE] = folder


def app_from_environment() -> object:
    """The app factory each worker calls."""
    return create_app(settings_or_exit(GatewaySettings))


def main() -> None:
    configure_json_logging("gateway")
    settings = settings_or_exit(GatewaySettings)
    # No per-request access log: it costs time on the hot path; requests are counted in /metrics.
    options = {
        "host": settings.server.host,
        "port": settings.server.port,
        "log_config": None,
        "access_log": False,
        "timeout_keep_alive": settings.server.keepalive_seconds,
    }
    if settings.server.workers > 1:
        prepare_multiprocess_metrics()
        target = "tutorbook_gateway.__main__:app_from_environment"
        uvicorn.run(target, factory=True, workers=settings.server.workers, **options)  # type: ignore[arg-type]
        return
    uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
