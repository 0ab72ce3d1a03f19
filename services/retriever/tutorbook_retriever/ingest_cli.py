"""``tutorbook-ingest PATH ...``: ingest files and folders through the gateway (or a retriever).

Markdown, text, HTML, PDF, JSON, JSONL and CSV. ``--access team-a,public`` says who may see the documents
that do not say it themselves (front matter, or a record's ``access`` field; default: public). Shows a
progress bar and ends with a summary: documents created, updated and unchanged (skipped), chunks
written, and every failure with its reason. A batch the
server refuses is retried one document at a time, so one bad document does not hide the good ones. A
batch that gets no answer (a timeout, a dropped connection, a 5xx) may have been committed anyway: each of
its documents is checked on the server (its content hash), so the summary counts only real failures, and
a re-run after any interruption writes only what is missing (unchanged documents are skipped).
"""

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import msgspec
from tqdm import tqdm

from tutorbook_config.local_keys import MissingKeyError, admin_key
from tutorbook_retriever.ingestion import content_hash
from tutorbook_retriever.loaders import FieldMapping, LoadError, find_files, load_file, parse_access
from tutorbook_retriever.schemas import DocumentIn
from tutorbook_service.teams import access_problem

BATCH_CHARS = 2_000_000  # characters of text per request, at most (a single larger document goes alone)


class DocumentServer(Protocol):
    """The gateway or a retriever (``httpx.Client`` with a base URL and the key's header)."""

    def post(self, url: str, *, json: Any) -> httpx.Response: ...

    def get(self, url: str) -> httpx.Response: ...


@dataclass
class IngestSummary:
    files: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    chunks: int = 0
    embedded: int = 0
    confirmed: int = 0  # written, though the server's answer was lost: confirmed by asking for it
    failed: list[tuple[str, str]] = field(default_factory=list)

    def count(self, body: dict[str, Any]) -> None:
        self.chunks += int(body.get("chunks", 0))
        self.embedded += int(body.get("embedded", 0))
        for result in body.get("results", []):
            setattr(self, result["status"], getattr(self, result["status"]) + 1)

    def table(self) -> str:
        rows = [
            ("files read", self.files),
            ("documents created", self.created),
            ("documents updated", self.updated),
            ("unchanged (skipped)", self.unchanged),
            ("chunks written", self.chunks),
            ("  of them embedded", self.embedded),
            ("written, answer lost", self.confirmed),
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


def with_default_access(documents: list[dict[str, Any]], access: list[str] | None) -> list[dict[str, Any]]:
    """``access`` (``--access``) for each document that does not carry its own access list."""
    if access is None:
        return documents
    return [document if "access" in document else {**document, "access": list(access)} for document in documents]


def access_argument(value: str) -> list[str]:
    """``--access team-a,public``, checked here as the server would check it (one message, not one per document)."""
    entries = parse_access(value)
    problem = access_problem(entries)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"--access is invalid: {problem}")
    return entries


def is_stored(server: DocumentServer, document: dict[str, Any]) -> bool:
    """Whether the server holds exactly this document: the same content hash, computed by the function the
    server computes it with (access list included)."""
    response = server.get(f"/v1/documents/{document['id']}")
    expected = content_hash(msgspec.convert(document, DocumentIn))
    return response.status_code == 200 and response.json().get("content_hash") == expected


def check_each(server: DocumentServer, batch: list[dict[str, Any]], reason: str, summary: IngestSummary) -> None:
    """After no answer: count what the server committed anyway, and fail only the rest."""
    for document in batch:
        try:
            stored = is_stored(server, document)
        except httpx.TransportError:
            stored = False
        if stored:
            summary.confirmed += 1
        else:
            summary.failed.append((str(document["id"]), reason))


def send(server: DocumentServer, batch: list[dict[str, Any]], summary: IngestSummary) -> None:
    try:
        response = server.post("/v1/documents", json={"documents": batch})
    except httpx.TransportError as exc:
        check_each(server, batch, f"no answer ({type(exc).__name__}) and not stored", summary)
        return
    if response.status_code == 200:
        summary.count(response.json())
    elif 400 <= response.status_code < 500 and len(batch) > 1:
        for document in batch:  # find which documents the server refuses
            send(server, [document], summary)
    elif response.status_code >= 500:
        check_each(server, batch, f"{error_message(response)} (and not stored)", summary)
    else:
        summary.failed.append((str(batch[0]["id"]), error_message(response)))


def batches(documents: list[dict[str, Any]], batch_size: int) -> list[list[dict[str, Any]]]:
    """Up to ``batch_size`` documents, and about BATCH_CHARS characters of text, per request: the retriever
    embeds a large batch fastest, and a request stays well below the gateway's body limit."""
    grouped: list[list[dict[str, Any]]] = [[]]
    chars = 0
    for document in documents:
        size = len(str(document.get("text", "")))
        if grouped[-1] and (len(grouped[-1]) >= batch_size or chars + size > BATCH_CHARS):
            grouped.append([])
            chars = 0
        grouped[-1].append(document)
        chars += size
    return [batch for batch in grouped if batch]


def ingest_paths(
    server: DocumentServer,
    paths: list[Path],
    mapping: FieldMapping,
    batch_size: int,
    access: list[str] | None = None,
) -> IngestSummary:
    """Load, then send in batches; ``access`` for the documents without their own (None: the server's default)."""
    summary = IngestSummary()
    documents = with_default_access(load_documents(paths, mapping, summary), access)
    with tqdm(total=len(documents), unit="doc", desc="ingest") as progress:
        for batch in batches(documents, batch_size):
            send(server, batch, summary)
            progress.update(len(batch))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(prog="tutorbook-ingest", description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path, help="files or folders")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="gateway (or retriever) base URL")
    parser.add_argument(
        "--key", help="admin key (default: $TUTORBOOK_ADMIN_KEY, $TUTORBOOK_GATEWAY_KEYS__ADMIN_KEYS, .env)"
    )
    parser.add_argument("--batch", type=int, default=256, help="at most this many documents per request")
    parser.add_argument("--timeout", type=float, default=960, help="seconds to wait for one batch")
    parser.add_argument("--id-field", default="id", help="JSON/JSONL/CSV: the field holding the document id")
    parser.add_argument("--title-field", default="title")
    parser.add_argument("--text-field", default="text")
    parser.add_argument("--metadata-fields", default="", help="comma-separated; default: every other field")
    parser.add_argument("--access-field", default="access", help="JSON/JSONL/CSV: the field holding the access list")
    parser.add_argument(
        "--access",
        type=access_argument,
        help="who may see documents that do not say (front matter, access field): team names and/or public",
    )
    args = parser.parse_args()
    try:
        key = admin_key(args.key, os.environ)
    except MissingKeyError as exc:
        sys.exit(str(exc))
    metadata_fields = tuple(field for field in args.metadata_fields.split(",") if field)
    mapping = FieldMapping(args.id_field, args.title_field, args.text_field, metadata_fields, args.access_field)
    headers = {"authorization": f"Bearer {key}"}
    with httpx.Client(base_url=args.url, headers=headers, timeout=args.timeout) as client:
        summary = ingest_paths(client, args.paths, mapping, args.batch, args.access)
    print(summary.table())
    sys.exit(1 if summary.failed else 0)


if __name__ == "__main__":
    main()
