"""Split a Markdown (or plain text) document into chunks that follow its structure.

Headings open sections; paragraphs are packed up to a size budget, and a paragraph larger than the budget
is cut at sentence boundaries (or hard, as a last resort). Small neighbouring sections share a chunk, each
keeping its heading line, so a short "Specifications" section is not cut off from the product it describes.
"""

import re
from dataclasses import dataclass

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Chunk:
    section: str  # heading path, "Title > Subsection"
    text: str


def split_sections(text: str) -> list[tuple[str, str]]:
    """(heading path, body) pairs in document order; text before the first heading has path ""."""
    sections: list[tuple[str, str]] = []
    path: list[tuple[int, str]] = []
    body: list[str] = []

    def flush() -> None:
        content = "\n".join(body).strip()
        if content:
            sections.append((" > ".join(title for _, title in path), content))
        body.clear()

    for line in text.splitlines():
        match = HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            path = [(lvl, title) for lvl, title in path if lvl < level]
            path.append((level, match.group(2)))
        else:
            body.append(line)
    flush()
    return sections


def split_oversized(paragraph: str, max_chars: int) -> list[str]:
    pieces: list[str] = []
    current = ""
    for sentence in SENTENCE_END.split(paragraph):
        while len(sentence) > max_chars:
            pieces.extend([current] if current else [])
            current = ""
            pieces.append(sentence[:max_chars])
            sentence = sentence[max_chars:]
        candidate = f"{current} {sentence}".strip()
        if len(candidate) > max_chars:
            pieces.append(current)
            current = sentence
        else:
            current = candidate
    if current:
        pieces.append(current)
    return [piece for piece in pieces if piece.strip()]


def pack_paragraphs(body: str, max_chars: int) -> list[str]:
    paragraphs: list[str] = []
    for paragraph in re.split(r"\n\s*\n", body):
        paragraph = paragraph.strip()
        if paragraph:
            paragraphs.extend(split_oversized(paragraph, max_chars) if len(paragraph) > max_chars else [paragraph])
    chunks: list[str] = []
    current = ""
    for paragraph in paragraphs:
        candidate = f"{current}\n\n{paragraph}" if current else paragraph
        if len(candidate) > max_chars and current:
            chunks.append(current)
            current = paragraph
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks


def leaf_heading(section: str) -> str:
    return section.rsplit(" > ", 1)[-1]


def chunk_document(text: str, max_chars: int) -> list[Chunk]:
    """Chunks labelled with the heading path of the section they start in."""
    chunks: list[Chunk] = []
    last_section: str | None = None
    for section, body in split_sections(text):
        for piece in pack_paragraphs(body, max_chars):
            labelled = f"{leaf_heading(section)}\n{piece}" if section and section != last_section else piece
            if chunks and len(chunks[-1].text) + 2 + len(labelled) <= max_chars:
                chunks[-1] = Chunk(chunks[-1].section, f"{chunks[-1].text}\n\n{labelled}")
            else:
                chunks.append(Chunk(section, piece))
            last_section = section
    return chunks
