"""``python -m tutorbook_retriever``: serve the retriever with uvicorn."""

import uvicorn

from tutorbook_retriever.app import create_app
from tutorbook_retriever.settings import RetrieverSettings


def main() -> None:
    settings = RetrieverSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.retriever_port, log_level="info")


if __name__ == "__main__":
    main()
