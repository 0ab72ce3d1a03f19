"""Read documents from files into the ingest shape ``{"id", "title", "text", "metadata"}``."""

from pathlib import Path
from typing import Any


def markdown_title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return fallback


def load_markdown_folder(folder: Path) -> list[dict[str, Any]]:
    """Every ``*.md`` file below ``folder``: id is the path without ``.md``, title the first ``#`` heading."""
    documents = []
    for path in sorted(folder.rglob("*.md")):
        relative = path.relative_to(folder).with_suffix("")
        text = path.read_text(encoding="utf-8")
        doc_id = relative.as_posix()
        documents.append(
            {
                "id": doc_id,
                "title": markdown_title(text, doc_id),
                "text": text,
                "metadata": {"source": path.relative_to(folder).as_posix()},
            }
        )
    return documents
