"""``python -m tutorbook_gateway``: serve the gateway with uvicorn."""

import uvicorn

from tutorbook_gateway.app import create_app
from tutorbook_gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.gateway_port, log_level="info")


if __name__ == "__main__":
    main()
