"""Re-ingesting an edited corpus embeds only the changed text, and the index then searches exactly like one
that ingested the edited corpus from scratch: with the real embedder, on Qdrant Edge (the embedded
default) and qdrant-client's local mode."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import pytest

from tests.conftest import SAMPLES
from tutorbook_retriever.chunking import chunk_document
from tutorbook_retriever.clients.edge.shards import EdgeShards
from tutorbook_retriever.clients.embedder import SentenceTransformerEmbedder
from tutorbook_retriever.clients.qdrant import open_qdrant
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.ingestion import IngestLimits, ingest_documents
from tutorbook_retriever.loaders import load_markdown_folder
from tutorbook_retriever.schemas import DocumentIn
from tutorbook_retriever.search import SearchOptions, search_chunks
from tutorbook_retriever.vectors import embedding_text
from tutorbook_retriever.wiring import edge_store, qdrant_store

LIMITS = IngestLimits(256, 1_000_000, 60, 12)  # small chunks: several per page, so an edit touches some
QUESTIONS = [
    "How long is the reset link valid?",
    "How many family members can share a home?",
    "What does device unavailable mean?",
    "Which phones does the app run on?",
    "How do I turn on two-factor authentication?",
]
ADDED_SECTION = "\n\n## Offline mode\n\nWithout internet the app still controls devices on the same Wi-Fi network.\n"


def sample_documents() -> list[DocumentIn]:
    return [msgspec.convert(document, DocumentIn) for document in load_markdown_folder(SAMPLES / "knowledge_base")]


def edited(documents: list[DocumentIn]) -> list[DocumentIn]:
    """Two pages edited: a section added to one, a sentence changed in another; the rest as they were."""
    first, second, *rest = documents
    changed_sentence = second.text.replace(".", ". Updated this week.", 1)
    assert changed_sentence != second.text
    return [
        msgspec.structs.replace(first, text=first.text + ADDED_SECTION),
        msgspec.structs.replace(second, text=changed_sentence),
        *rest,
    ]


def embedded_texts(documents: list[DocumentIn]) -> set[str]:
    return {
        embedding_text(d.title or d.id, chunk)
        for d in documents
        for chunk in chunk_document(d.text, LIMITS.chunk_max_tokens, LIMITS.chunk_overlap_tokens)
    }


@contextmanager
def empty_store(backend: str, folder: Path, dimension: int) -> Iterator[Store]:
    if backend == "edge":
        shards = EdgeShards(folder)
        store, close = edge_store(shards, "tutorbook", 100), shards.close
    else:
        qdrant = open_qdrant("", "", folder)
        store, close = qdrant_store(qdrant, "tutorbook", 100), qdrant.close
    store.ensure(dimension)
    try:
        yield store
    finally:
        close()


@pytest.mark.parametrize("backend", ["edge", "local"])
def test_an_edited_corpus_embeds_only_its_changed_text_and_searches_like_a_fresh_one(
    backend: str, tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    original = sample_documents()
    new = edited(original)
    dimension = embedder.dimension
    with (
        empty_store(backend, tmp_path / "reingested", dimension) as reingested,
        empty_store(backend, tmp_path / "fresh", dimension) as fresh,
    ):
        ingest_documents(original, embedder, reingested, LIMITS)
        result = ingest_documents(new, embedder, reingested, LIMITS)
        ingest_documents(new, embedder, fresh, LIMITS)

        changed = [outcome for outcome in result.outcomes if outcome.status != "unchanged"]
        assert [outcome.status for outcome in changed] == ["updated", "updated"]
        new_texts = embedded_texts(new[:2]) - embedded_texts(original[:2])
        assert result.embedded == len(new_texts) > 0
        assert result.chunks > result.embedded  # the edited pages' other chunks kept their vectors
        assert reingested.chunks.count() == fresh.chunks.count()
        for question in QUESTIONS:
            options = SearchOptions(top_k=5, mode="dense")
            expected = search_chunks(question, options, embedder, fresh).hits
            found = search_chunks(question, options, embedder, reingested).hits
            assert [hit.chunk_id for hit in found] == [hit.chunk_id for hit in expected], question
            assert [hit.score for hit in found] == pytest.approx([hit.score for hit in expected], abs=1e-4)
