"""``python -m tutorbook_gateway``: serve the gateway with uvicorn."""

import uvicorn

from tutorbook_common.logs import configure_json_logging
from tutorbook_gateway.app import create_app
from tutorbook_gateway.settings import GatewaySettings


def main() -> None:
    configure_json_logging("gateway")
    settings = GatewaySettings()
    # No per-request access log: it costs time on the hot path; requests are counted in /metrics.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.gateway_port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
