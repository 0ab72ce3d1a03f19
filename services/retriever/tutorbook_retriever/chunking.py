"""Split a Markdown (or plain text) document into chunks that follow its structure.

Headings open sections; paragraphs are packed up to a token budget, and a paragraph larger than the
budget is cut at sentence boundaries (or at word boundaries, as a last resort). When a section needs
several chunks, each new chunk starts with the last sentences of the previous one (the overlap). Small
neighbouring sections share a chunk, each keeping its heading line, so a short "Specifications" section
is not cut off from the product it describes.
"""

import re
from dataclasses import dataclass

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class Chunk:
    section: str  # heading path, "Title > Subsection"
    text: str


def count_tokens(text: str) -> int:
    """Words and punctuation marks: close to (slightly under) a WordPiece count for English text."""
    return len(TOKEN.findall(text))


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


def split_words(text: str, max_tokens: int) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    for word in text.split():
        if current and count_tokens(" ".join([*current, word])) > max_tokens:
            pieces.append(" ".join(current))
            current = []
        current.append(word)
    if current:
        pieces.append(" ".join(current))
    return pieces


def split_oversized(paragraph: str, max_tokens: int) -> list[str]:
    """Sentence-sized pieces of at most ``max_tokens`` each, packed greedily."""
    sentences: list[str] = []
    for sentence in SENTENCE_END.split(paragraph):
        sentences.extend(split_words(sentence, max_tokens) if count_tokens(sentence) > max_tokens else [sentence])
    pieces: list[str] = []
    current = ""
    for sentence in sentences:
        candidate = f"{current} {sentence}".strip()
        if current and count_tokens(candidate) > max_tokens:
            pieces.append(current)
            current = sentence
        else:
            current = candidate
    if current:
        pieces.append(current)
    return [piece for piece in pieces if piece.strip()]


def overlap_tail(text: str, overlap_tokens: int) -> str:
    """The last whole sentences of ``text`` that fit in ``overlap_tokens``."""
    tail: list[str] = []
    for sentence in reversed(SENTENCE_END.split(text.replace("\n", " "))):
        if count_tokens(" ".join([sentence, *tail])) > overlap_tokens:
            break
        tail.insert(0, sentence)
    return " ".join(tail)


def pack_paragraphs(body: str, max_tokens: int, overlap_tokens: int) -> list[str]:
    paragraphs: list[str] = []
    for paragraph in re.split(r"\n\s*\n", body):
        paragraph = paragraph.strip()
        if paragraph:
            oversized = count_tokens(paragraph) > max_tokens
            paragraphs.extend(split_oversized(paragraph, max_tokens) if oversized else [paragraph])
    chunks: list[str] = []
    current = ""
    for paragraph in paragraphs:
        candidate = f"{current}\n\n{paragraph}" if current else paragraph
        if current and count_tokens(candidate) > max_tokens:
            chunks.append(current)
            tail = overlap_tail(current, overlap_tokens) if overlap_tokens else ""
            seeded = f"{tail}\n\n{paragraph}" if tail else paragraph
            current = seeded if count_tokens(seeded) <= max_tokens else paragraph
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks


def leaf_heading(section: str) -> str:
    return section.rsplit(" > ", 1)[-1]


def chunk_document(text: str, max_tokens: int, overlap_tokens: int = 0) -> list[Chunk]:
    """Chunks labelled with the heading path of the section they start in."""
    chunks: list[Chunk] = []
    last_section: str | None = None
    for section, body in split_sections(text):
        for piece in pack_paragraphs(body, max_tokens, overlap_tokens):
            labelled = f"{leaf_heading(section)}\n{piece}" if section and section != last_section else piece
            if chunks and count_tokens(chunks[-1].text) + count_tokens(labelled) <= max_tokens:
                chunks[-1] = Chunk(chunks[-1].section, f"{chunks[-1].text}\n\n{labelled}")
            else:
                chunks.append(Chunk(section, piece))
            last_section = section
    return chunks
