"""Read files into the ingest shape ``{"id", "title", "text", "metadata"}``, plus ``"access"`` when the
file names who may see it.

One file is one document for Markdown, plain text, HTML and PDF (id: the path below the ingested folder,
without its suffix). A Markdown or text file may start with front matter: a ``---`` line, ``key: value``
lines, a ``---`` line; its ``title`` and ``access`` (``[team-a, public]`` or ``team-a, public``) are read,
other keys are ignored, and the block is not part of the text (a small parser of these two keys: no YAML
dependency). JSON, JSONL and CSV files hold records; a :class:`FieldMapping` names the fields that are the
id, title, text and access list (a list, or a comma-separated string), and which become metadata.
"""

import csv
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

MARKDOWN = {".md", ".markdown"}
TEXT = {".txt", ".text"}
HTML = {".html", ".htm"}
PDF = {".pdf"}
RECORDS = {".json", ".jsonl", ".csv"}
SUPPORTED = MARKDOWN | TEXT | HTML | PDF | RECORDS
SCALARS = (str, int, float, bool)
FRONT_MATTER_FENCE = "---"
FRONT_MATTER_KEYS = frozenset({"title", "access"})
# A line front matter may hold: "key: value", an indented continuation, a comment, or nothing.
FRONT_MATTER_LINE = re.compile(r"[A-Za-z0-9_-]+\s*:.*|\s+.*|#.*|")


class LoadError(ValueError):
    """A file (or one record in it) cannot be turned into a document; the message says why."""


@dataclass(frozen=True)
class FieldMapping:
    id: str = "id"
    title: str = "title"
    text: str = "text"
    # Fields copied into metadata; empty means every other field with a scalar value.
    metadata: tuple[str, ...] = ()
    access: str = "access"  # who may see the record's document: a list, or a comma-separated string


def markdown_title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return fallback


def file_document(doc_id: str, title: str, text: str, source: str) -> dict[str, Any]:
    return {"id": doc_id, "title": title, "text": text, "metadata": {"source": source}}


def unquoted(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1].strip()
    return value


def parse_access(value: str) -> list[str]:
    """``[team-a, public]``, ``team-a, public`` or ``team-a``: the entries, in order (an entry may be quoted)."""
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    return [entry for entry in (unquoted(part) for part in value.split(",")) if entry]


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """The ``title`` and ``access`` of a leading front matter block, and the text without the block. A
    first ``---`` line without a closing one, or a block holding a line that is not ``key: value``, is
    not front matter: the text is returned whole."""
    lines = text.removeprefix("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != FRONT_MATTER_FENCE:
        return {}, text
    end = next((n for n, line in enumerate(lines[1:], start=1) if line.strip() == FRONT_MATTER_FENCE), None)
    if end is None or not all(FRONT_MATTER_LINE.fullmatch(line.rstrip("\r\n")) for line in lines[1:end]):
        return {}, text
    fields: dict[str, str] = {}
    for line in lines[1:end]:
        key, colon, value = line.partition(":")
        if colon and not line[0].isspace() and key.strip() in FRONT_MATTER_KEYS:
            fields[key.strip()] = value.strip()
    return fields, "".join(lines[end + 1 :]).lstrip("\r\n")


def load_text(path: Path, doc_id: str, source: str) -> dict[str, Any]:
    """A Markdown or plain text file; its front matter's title and access list win over what the text says."""
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(f"not UTF-8 text: {exc}") from exc
    fields, text = split_front_matter(raw)
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), doc_id)
    title = markdown_title(text, doc_id) if path.suffix.lower() in MARKDOWN else first_line[:200]
    document = file_document(doc_id, unquoted(fields.get("title", "")) or title, text, source)
    if "access" in fields:
        document["access"] = parse_access(fields["access"])
    return document


class HtmlToMarkdown(HTMLParser):
    """Keeps the text and turns headings and list items into their Markdown form; drops scripts and styles."""

    SKIP = frozenset({"script", "style", "noscript", "template", "svg"})
    BLOCKS = frozenset({"p", "div", "section", "article", "br", "tr", "table", "ul", "ol", "pre", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skipping = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skipping += 1
        elif tag == "title":
            self._in_title = True
        elif len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "title":
            self._in_title = False
        elif (len(tag) == 2 and tag[0] == "h" and tag[1] in "123456") or tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data.strip()
        elif not self._skipping:
            self.parts.append(" ".join(data.split()) if data.strip() else "")

    def markdown(self) -> str:
        lines = [" ".join(line.split()) for line in "".join(self.parts).splitlines()]
        text = "\n".join(lines)
        while "\n\n\n" in text:
            text = text.replace("\n\n\n", "\n\n")
        return text.strip()


def load_html(path: Path, doc_id: str, source: str) -> dict[str, Any]:
    parser = HtmlToMarkdown()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    text = parser.markdown()
    return file_document(doc_id, parser.title or markdown_title(text, doc_id), text, source)


def load_pdf(path: Path, doc_id: str, source: str) -> dict[str, Any]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        title = str(reader.metadata.get("/Title") or "") if reader.metadata else ""
        title = title or path.stem
    except (PdfReadError, OSError, ValueError) as exc:
        raise LoadError(f"not a readable PDF: {exc}") from exc
    text = "\n\n".join(f"## Page {number}\n\n{page}" for number, page in enumerate(pages, start=1) if page)
    if not text:
        raise LoadError("the PDF has no extractable text (scanned images need OCR first)")
    return file_document(doc_id, title, f"# {title}\n\n{text}", source)


def record_document(record: Any, mapping: FieldMapping, where: str, source: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise LoadError(f"{where} is not an object")
    for field in (mapping.id, mapping.text):
        if record.get(field) in (None, ""):
            raise LoadError(f"{where} has no {field!r} field")
    named = {mapping.id, mapping.title, mapping.text, mapping.access}
    wanted = mapping.metadata or tuple(k for k in record if k not in named)
    metadata = {key: record[key] for key in wanted if isinstance(record.get(key), SCALARS) and key != mapping.access}
    document = {
        "id": str(record[mapping.id]),
        "title": str(record.get(mapping.title) or record[mapping.id]),
        "text": str(record[mapping.text]),
        "metadata": {**metadata, "source": source},
    }
    if record.get(mapping.access) not in (None, ""):
        document["access"] = record_access(record[mapping.access], f"{where}'s {mapping.access!r} field")
    return document


def record_access(value: Any, where: str) -> list[str]:
    """A record's access list: a list of names, or one comma-separated string (what a CSV cell can hold)."""
    if isinstance(value, str):
        return parse_access(value)
    if isinstance(value, list) and all(isinstance(entry, str) for entry in value):
        return [entry.strip() for entry in value]
    raise LoadError(f"{where} must be a list of names or a comma-separated string")


def load_records(path: Path, mapping: FieldMapping, source: str) -> list[dict[str, Any]]:
    try:
        if path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as handle:
                records: list[Any] = list(csv.DictReader(handle))
        elif path.suffix == ".jsonl":
            lines = path.read_text(encoding="utf-8").splitlines()
            records = [json.loads(line) for line in lines if line.strip()]
        else:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            records = loaded.get("documents", [loaded]) if isinstance(loaded, dict) else loaded
    except (json.JSONDecodeError, csv.Error, UnicodeDecodeError) as exc:
        raise LoadError(f"cannot parse {path.suffix[1:].upper()}: {exc}") from exc
    if not isinstance(records, list):
        raise LoadError("expected a list of records")
    return [record_document(record, mapping, f"record {n}", source) for n, record in enumerate(records, start=1)]


def load_file(path: Path, root: Path, mapping: FieldMapping = FieldMapping()) -> list[dict[str, Any]]:
    """The documents in one file; raises LoadError with the reason when it cannot be read."""
    source = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    doc_id = str(Path(source).with_suffix("").as_posix())
    suffix = path.suffix.lower()
    if suffix in RECORDS:
        return load_records(path, mapping, source)
    if suffix in PDF:
        return [load_pdf(path, doc_id, source)]
    if suffix in HTML:
        return [load_html(path, doc_id, source)]
    if suffix in MARKDOWN | TEXT:
        return [load_text(path, doc_id, source)]
    raise LoadError(f"unsupported file type {suffix or '(none)'}; supported: {', '.join(sorted(SUPPORTED))}")


def find_files(paths: Iterable[Path]) -> list[tuple[Path, Path]]:
    """(file, root) pairs: the supported files below each folder, and each file named directly."""
    found: list[tuple[Path, Path]] = []
    for path in paths:
        if path.is_dir():
            found.extend((file, path) for file in sorted(path.rglob("*")) if file.suffix.lower() in SUPPORTED)
        else:
            found.append((path, path.parent))
    return found


def load_markdown_folder(folder: Path) -> list[dict[str, Any]]:
    """Every Markdown file below ``folder``: id is the path without ``.md``, title the first ``#`` heading."""
    return [
        document for file, root in find_files([folder]) if file.suffix == ".md" for document in load_file(file, root)
    ]
