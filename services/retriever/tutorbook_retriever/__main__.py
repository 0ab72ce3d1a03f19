"""``python -m tutorbook_retriever``: serve the retriever with uvicorn."""

import uvicorn

from tutorbook_retriever.app import create_app
from tutorbook_retriever.settings import RetrieverSettings
from tutorbook_service.logs import configure_json_logging


def main() -> None:
    configure_json_logging("retriever")
    settings = RetrieverSettings()
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.retriever_port, log_config=None, access_log=False
    )


if __name__ == "__main__":
    main()
