"""``tutorbook-ingest PATH ...``: ingest files and folders through the gateway (or a retriever).

Markdown, text, HTML, PDF, JSON, JSONL and CSV. Shows a progress bar and ends with a summary: documents
created, updated and unchanged (skipped), chunks written, and every failure with its reason. A batch the
server refuses is retried one document at a time, so one bad document does not hide the good ones.
"""

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from tutorbook_common.local_keys import MissingKeyError, admin_key
from tutorbook_retriever.loaders import FieldMapping, LoadError, find_files, load_file

Post = Callable[[list[dict[str, Any]]], httpx.Response]


@dataclass
class IngestSummary:
    files: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    chunks: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    def count(self, body: dict[str, Any]) -> None:
        self.chunks += int(body.get("chunks", 0))
        for result in body.get("results", []):
            setattr(self, result["status"], getattr(self, result["status"]) + 1)

    def table(self) -> str:
        rows = [
            ("files read", self.files),
            ("documents created", self.created),
            ("documents updated", self.updated),
            ("unchanged (skipped)", self.unchanged),
            ("chunks written", self.chunks),
            ("failed", len(self.failed)),
        ]
        lines = [f"{label:<22}{value:>8}" for label, value in rows]
        lines += [f"  failed: {where}: {reason}" for where, reason in self.failed]
        return "\n".join(lines)


def error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}: {response.text[:200]}"


def load_documents(paths: list[Path], mapping: FieldMapping, summary: IngestSummary) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for file, root in find_files(paths):
        summary.files += 1
        try:
            documents.extend(load_file(file, root, mapping))
        except (LoadError, OSError) as exc:
            summary.failed.append((str(file), str(exc)))
    return documents


def send(post: Post, batch: list[dict[str, Any]], summary: IngestSummary) -> None:
    response = post(batch)
    if response.status_code == 200:
        summary.count(response.json())
    elif 400 <= response.status_code < 500 and len(batch) > 1:
        for document in batch:  # find which documents the server refuses
            send(post, [document], summary)
    else:
        where = batch[0]["id"] if len(batch) == 1 else f"{len(batch)} documents from {batch[0]['id']}"
        summary.failed.append((str(where), error_message(response)))


def ingest_paths(post: Post, paths: list[Path], mapping: FieldMapping, batch_size: int) -> IngestSummary:
    summary = IngestSummary()
    documents = load_documents(paths, mapping, summary)
    with tqdm(total=len(documents), unit="doc", desc="ingest") as progress:
        for start in range(0, len(documents), batch_size):
            batch = documents[start : start + batch_size]
            send(post, batch, summary)
            progress.update(len(batch))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(prog="tutorbook-ingest", description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path, help="files or folders")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="gateway (or retriever) base URL")
    parser.add_argument("--key", help="admin key (default: $TUTORBOOK_ADMIN_KEY, $TUTORBOOK_ADMIN_KEYS, .env)")
    parser.add_argument("--batch", type=int, default=16, help="documents per request")
    parser.add_argument("--id-field", default="id", help="JSON/JSONL/CSV: the field holding the document id")
    parser.add_argument("--title-field", default="title")
    parser.add_argument("--text-field", default="text")
    parser.add_argument("--metadata-fields", default="", help="comma-separated; default: every other field")
    args = parser.parse_args()
    try:
        key = admin_key(args.key, os.environ)
    except MissingKeyError as exc:
        sys.exit(str(exc))
    mapping = FieldMapping(
        args.id_field, args.title_field, args.text_field, tuple(f for f in args.metadata_fields.split(",") if f)
    )
    headers = {"authorization": f"Bearer {key}"}
    with httpx.Client(base_url=args.url, headers=headers, timeout=600) as client:
        summary = ingest_paths(
            lambda batch: client.post("/v1/documents", json={"documents": batch}), args.paths, mapping, args.batch
        )
    print(summary.table())
    sys.exit(1 if summary.failed else 0)


if __name__ == "__main__":
    main()
