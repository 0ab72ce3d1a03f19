"""Figures quoted in the docs' prose, checked against the result files they come from.

A number typed in a sentence names its source in a comment right after it (and its unit):
``0.710<!-- = data/eval/tutors.json figures.sets.banking77-20.code.served.accuracy -->``. The comment
does not show on a rendered page. The check reads the file, follows the dot path (list items by their
index) and compares the value, rounded to the number of decimals typed, with the typed number. A figure
followed by ``%`` is compared with a hundred times a fraction. ``make doc-figures --check`` and the test
suite fail on a quote that differs from its file, or whose file or path is not there.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QUOTE = re.compile(
    r"(?P<number>[+\-−]?\d[\d,]*(?:\.\d+)?)(?P<unit>[^\d<\n]{0,4})<!-- = (?P<source>\S+) (?P<path>\S+) -->"
)
PAGES_GLOB = ("README.md", "docs/**/*.md")


@dataclass(frozen=True)
class Quote:
    page: str
    line: int
    typed: str
    unit: str
    source: str
    path: str


INLINE_CODE = re.compile(r"`[^`\n]*`")


def prose_of(text: str) -> str:
    """``text`` with inline code blanked out (where a page shows the syntax itself), lines kept."""
    return INLINE_CODE.sub(lambda code: " " * len(code.group()), text)


def quotes_in(page: str, text: str) -> list[Quote]:
    """The quotes in ``text``, leaving out inline code."""
    prose = prose_of(text)
    found = []
    for match in QUOTE.finditer(prose):
        line = text.count("\n", 0, match.start()) + 1
        found.append(Quote(page, line, match["number"], match["unit"], match["source"], match["path"]))
    return found


def unreadable_quotes(page: str, text: str) -> list[str]:
    """Quote comments with no number the check can read right before them (never skipped in silence)."""
    prose = prose_of(text)
    read = {match.start("source") for match in QUOTE.finditer(prose)}
    return [
        f"{page}:{text.count(chr(10), 0, comment.start()) + 1}: a quote with no number right before it "
        "(the number, then at most 4 characters of unit, then the comment)"
        for comment in re.finditer(r"<!-- = (?=\S)", prose)
        if comment.end() not in read
    ]


def fenced_lines(text: str) -> set[int]:
    """The line numbers inside fenced code blocks, where a comment would show as text."""
    inside, lines = False, set()
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            inside = not inside
        elif inside:
            lines.add(number)
    return lines


def value_at(document: Any, path: str) -> Any:
    for part in path.split("."):
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


def typed_value(typed: str) -> tuple[float, int]:
    """The number as typed (thousands separators and a typographic minus allowed) and its decimals."""
    plain = typed.replace(",", "").replace("−", "-")
    decimals = len(plain.split(".")[1]) if "." in plain else 0
    return float(plain), decimals


def disagreement(quote: Quote, root: Path, read: dict[str, Any] | None = None) -> str | None:
    """Why ``quote`` differs from its file, or ``None`` when it quotes it exactly (``read``: the files
    already parsed, by path, so a file quoted often is read once)."""
    where = f"{quote.page}:{quote.line}: {quote.typed}{quote.unit}"
    read = {} if read is None else read
    try:
        if quote.source not in read:
            read[quote.source] = json.loads((root / quote.source).read_text())
        value = value_at(read[quote.source], quote.path)
    except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
        return f"{where} quotes {quote.source} {quote.path}, which cannot be read ({error!r})"
    if not isinstance(value, int | float):
        return f"{where} quotes {quote.source} {quote.path}, which is {value!r}, not a number"
    number, decimals = typed_value(quote.typed)
    expected = value * 100 if quote.unit.startswith("%") else value
    if round(expected, decimals) != number:
        return f"{where} differs from {quote.source} {quote.path}: {expected:.{decimals}f}"
    return None


def pages_of(root: Path) -> list[tuple[str, str]]:
    """Each page the quotes may be in, as its path under ``root`` and its text."""
    pages = sorted({path for pattern in PAGES_GLOB for path in root.glob(pattern)})
    return [(str(page.relative_to(root)), page.read_text()) for page in pages]


def disagreements(root: Path) -> list[str]:
    """Every quote in the docs that does not match its file (empty when all do)."""
    found: list[str] = []
    read: dict[str, Any] = {}
    for page, text in pages_of(root):
        fenced = fenced_lines(text)
        found += unreadable_quotes(page, text)
        for quote in quotes_in(page, text):
            problem = disagreement(quote, root, read)
            if quote.line in fenced:
                problem = f"{quote.page}:{quote.line}: a quote inside a code block shows as text; quote in prose"
            if problem:
                found.append(problem)
    return found


def quote_count(root: Path) -> int:
    return sum(len(quotes_in(page, text)) for page, text in pages_of(root))
