"""Read files into the ingest shape ``{"id", "title", "text", "metadata"}``.

One file is one document for Markdown, plain text, HTML and PDF (id: the path below the ingested folder,
without its suffix). JSON, JSONL and CSV files hold records; a :class:`FieldMapping` names the fields that
are the id, title and text, and which become metadata.
"""

import csv
import json
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


class LoadError(ValueError):
    """A file (or one record in it) cannot be turned into a document; the message says why."""


@dataclass(frozen=True)
class FieldMapping:
    id: str = "id"
    title: str = "title"
    text: str = "text"
    # Fields copied into metadata; empty means every other field with a scalar value.
    metadata: tuple[str, ...] = ()


def markdown_title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return fallback


def file_document(doc_id: str, title: str, text: str, source: str) -> dict[str, Any]:
    return {"id": doc_id, "title": title, "text": text, "metadata": {"source": source}}


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
    wanted = mapping.metadata or tuple(k for k in record if k not in {mapping.id, mapping.title, mapping.text})
    metadata = {key: record[key] for key in wanted if isinstance(record.get(key), SCALARS)}
    return {
        "id": str(record[mapping.id]),
        "title": str(record.get(mapping.title) or record[mapping.id]),
        "text": str(record[mapping.text]),
        "metadata": {**metadata, "source": source},
    }


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
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise LoadError(f"not UTF-8 text: {exc}") from exc
        first_line = next((line.strip() for line in text.splitlines() if line.strip()), doc_id)
        title = markdown_title(text, doc_id) if suffix in MARKDOWN else first_line[:200]
        return [file_document(doc_id, title, text, source)]
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
