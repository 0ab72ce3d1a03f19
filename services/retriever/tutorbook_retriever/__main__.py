"""``python -m tutorbook_retriever``: serve the retriever with uvicorn."""

import uvicorn

from tutorbook_config.service_settings import settings_or_exit
from tutorbook_retriever.app import create_app
from tutorbook_retriever.settings import RetrieverSettings
from tutorbook_service.logs import configure_json_logging


def main() -> None:
    configure_json_logging("retriever")
    settings = settings_or_exit(RetrieverSettings)
    uvicorn.run(
        create_app(settings), host=settings.server.host, port=settings.server.port, log_config=None, access_log=False
    )


if __name__ == "__main__":
    main()
