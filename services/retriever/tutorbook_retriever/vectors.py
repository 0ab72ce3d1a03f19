"""A chunk's vectors: the text it is embedded as (its heading path and text), its dense and sparse vectors,
and the dense vectors a document's stored chunks already have, so unchanged text is not embedded again."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tutorbook_retriever import lexical
from tutorbook_retriever.chunking import Chunk
from tutorbook_retriever.clients.embedder import Embedder
from tutorbook_retriever.clients.store import Store


def heading_of(title: str, chunk: Chunk) -> str:
    section = chunk.section
    if section == title or section.startswith(f"{title} > "):
        return section
    return " > ".join(part for part in (title, section) if part)


def embedding_text(title: str, chunk: Chunk) -> str:
    """What is embedded and indexed: the heading path gives a chunk the context its text alone may lack."""
    heading = heading_of(title, chunk)
    return f"{heading}\n{chunk.text}" if heading else chunk.text


def stored_vectors(doc_id: str, store: Store, wanted: set[str]) -> dict[str, list[float]]:
    """The dense vectors of ``doc_id``'s stored chunks whose embedded text is in ``wanted``, by that text.
    Only those are kept: a batch holds the vectors it reuses, not every vector of the pages it changes."""
    vectors = {}
    for stored in store.chunks.document_chunks(doc_id):
        payload = stored.payload
        chunk = Chunk(section=str(payload.get("section", "")), text=str(payload.get("text", "")))
        text = embedding_text(str(payload.get("title", "")), chunk)
        if text in wanted:
            vectors[text] = stored.dense
    return vectors


@dataclass(frozen=True)
class Vectors:
    dense: list[list[float]]
    sparse: list[lexical.SparseVector]
    embedded: list[bool]  # per text: embedded now (else its vector was known)


def vectorize(texts: list[str], embedder: Embedder, known: dict[str, list[float]] | None = None) -> Vectors:
    """Dense and sparse vectors of ``texts``. Dense ones come from ``known`` where it has the text, and
    each other distinct text is embedded once, in a worker thread (ONNX Runtime and the tokenizer release
    the GIL) while this thread computes the sparse ones."""
    known = known or {}
    missing = [text for text in dict.fromkeys(texts) if text not in known]
    with ThreadPoolExecutor(1, thread_name_prefix="embed") as pool:
        computing = pool.submit(embedder.embed, missing) if missing else None
        sparse = [lexical.document_vector(text) for text in texts]
        computed = dict(zip(missing, computing.result(), strict=True)) if computing else {}
    first_seen: set[str] = set()
    embedded = []
    for text in texts:
        embedded.append(text in computed and text not in first_seen)
        first_seen.add(text)
    return Vectors([computed[text] if text in computed else known[text] for text in texts], sparse, embedded)
