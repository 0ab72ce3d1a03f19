"""Only changed text is embedded again: a new version of a page keeps the vectors of its unchanged chunks,
and a text repeated within a batch is embedded once."""

import hashlib
from collections.abc import Sequence

import pytest

from tests.unit.conftest import STORE_DIMENSION
from tutorbook_retriever.chunking import chunk_document
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.ingestion import IngestLimits, IngestResult, ingest_documents
from tutorbook_retriever.schemas import DocumentIn
from tutorbook_retriever.vectors import embedding_text, stored_vectors

LIMITS = IngestLimits(max_documents=10, max_document_chars=100_000, chunk_max_tokens=40, chunk_overlap_tokens=0)


class RecordingEmbedder:
    """A vector from each text's hash, and a record of every text it was asked to embed."""

    dimension = STORE_DIMENSION

    def __init__(self) -> None:
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts += texts
        return [
            [byte / 255 + 0.01 for byte in hashlib.sha256(text.encode()).digest()[:STORE_DIMENSION]] for text in texts
        ]


def section(name: str, words: int = 30) -> str:
    return f"## {name}\n\n" + " ".join(f"{name.lower()}{n}" for n in range(words)) + ".\n"


def page(*sections: str) -> str:
    return "# Guide\n\n" + "\n".join(sections)


def stored(retriever_store: Store, doc_id: str) -> dict[str, list[float]]:
    """The document's chunk texts, as search would show them, and their vectors."""
    return {str(chunk.payload["text"]): chunk.dense for chunk in retriever_store.chunks.document_chunks(doc_id)}


def ingest(retriever_store: Store, embedder: RecordingEmbedder, *documents: DocumentIn) -> IngestResult:
    embedder.texts.clear()
    return ingest_documents(list(documents), embedder, retriever_store, LIMITS)


def test_an_edited_section_is_the_only_text_embedded_again(retriever_store: Store) -> None:
    embedder = RecordingEmbedder()
    first = ingest(retriever_store, embedder, DocumentIn(id="guide", text=page(section("Setup"), section("Pairing"))))
    assert first.outcomes[0].embedded == first.outcomes[0].chunks == 2
    before = stored(retriever_store, "guide")

    edited = page(section("Setup"), section("Pairing", words=31), section("Reset"))
    second = ingest(retriever_store, embedder, DocumentIn(id="guide", text=edited))

    outcome = second.outcomes[0]
    assert (outcome.status, outcome.chunks, outcome.embedded) == ("updated", 3, 2)
    assert second.embedded == 2 and second.chunks == 3
    assert all("Setup" not in text for text in embedder.texts)  # only Pairing (edited) and Reset (new)
    after = stored(retriever_store, "guide")
    assert len(after) == 3  # the old version's chunks are gone
    kept = [text for text in after if "setup0" in text]
    assert len(kept) == 1 and after[kept[0]] == pytest.approx(before[kept[0]])


def test_a_page_sent_again_unchanged_embeds_nothing_and_a_title_change_embeds_everything(
    retriever_store: Store,
) -> None:
    embedder = RecordingEmbedder()
    text = page(section("Setup"), section("Pairing"))
    ingest(retriever_store, embedder, DocumentIn(id="guide", text=text, title="Remote"))
    again = ingest(retriever_store, embedder, DocumentIn(id="guide", text=text, title="Remote"))
    assert again.outcomes[0].status == "unchanged" and again.embedded == 0 and not embedder.texts
    retitled = ingest(retriever_store, embedder, DocumentIn(id="guide", text=text, title="Remote control"))
    assert retitled.outcomes[0].embedded == 2  # the title leads every chunk's embedded text
    assert all(text.startswith("Remote control") for text in embedder.texts)


def test_an_access_change_alone_keeps_every_vector(retriever_store: Store) -> None:
    embedder = RecordingEmbedder()
    text = page(section("Setup"), section("Pairing"))
    ingest(retriever_store, embedder, DocumentIn(id="guide", text=text))
    moved = ingest(retriever_store, embedder, DocumentIn(id="guide", text=text, access=["team-a"]))
    assert moved.outcomes[0].status == "updated" and moved.embedded == 0
    assert retriever_store.registry.get("guide").access == ["team-a"]  # type: ignore[union-attr]


def test_a_text_repeated_across_a_batch_is_embedded_once(retriever_store: Store) -> None:
    embedder = RecordingEmbedder()
    footer = section("Warranty")
    result = ingest(
        retriever_store,
        embedder,
        DocumentIn(id="a", text=page(section("Setup"), footer), title="Guide"),
        DocumentIn(id="b", text=page(section("Pairing"), footer), title="Guide"),
    )
    assert result.chunks == 4 and result.embedded == 3
    assert len(embedder.texts) == len(set(embedder.texts)) == 3
    footers = [
        vector for doc_id in "ab" for text, vector in stored(retriever_store, doc_id).items() if "warranty0" in text
    ]
    assert len(footers) == 2 and footers[0] == pytest.approx(footers[1])


def test_a_batch_keeps_only_the_stored_vectors_it_reuses(retriever_store: Store) -> None:
    text = page(section("Setup"), section("Pairing"))
    ingest(retriever_store, RecordingEmbedder(), DocumentIn(id="guide", text=text))
    setup = chunk_document(text, LIMITS.chunk_max_tokens, LIMITS.chunk_overlap_tokens)[0]
    wanted = {embedding_text("guide", setup), "a text the page never had"}
    kept = stored_vectors("guide", retriever_store, wanted)
    assert list(kept) == [embedding_text("guide", setup)]  # pairing's vector, not wanted, is not held
    assert kept[embedding_text("guide", setup)] == stored(retriever_store, "guide")[setup.text]
