"""The same ingestion and queries on every store backend give the same results, the way qdrant-client
tests its local and remote modes: Qdrant Edge (the embedded default) against qdrant-client's local mode
(the reference, and the earlier default), and a Qdrant server too when
TUTORBOOK_RETRIEVER_STORE__QDRANT_URL is set. Also:
a data folder written by the earlier default is migrated to Edge on the first start, nothing lost."""

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from tests.conftest import INTERNAL_TOKEN, SAMPLES, internal_client
from tutorbook_config.service_settings import configured
from tutorbook_retriever.app import create_app
from tutorbook_retriever.clients.edge.shards import EdgeShards
from tutorbook_retriever.clients.embedder import SentenceTransformerEmbedder
from tutorbook_retriever.clients.qdrant import open_qdrant
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.ingestion import IngestLimits, ingest_documents, replace_route_examples
from tutorbook_retriever.loaders import load_markdown_folder
from tutorbook_retriever.schemas import DocumentIn
from tutorbook_retriever.search import SearchOptions, search_chunks
from tutorbook_retriever.settings import RetrieverSettings
from tutorbook_retriever.wiring import edge_store, qdrant_store

LIMITS = IngestLimits(256, 1_000_000, 200, 32)
QUESTIONS = [json.loads(line)["question"] for line in (SAMPLES / "questions.jsonl").read_text().splitlines()][:20]
ROUTE_EXAMPLES = ["Which department should handle this ticket?", "Route this support request to a team."]


def sample_documents() -> list[DocumentIn]:
    return [msgspec.convert(document, DocumentIn) for document in load_markdown_folder(SAMPLES / "knowledge_base")]


def filled(store: Store, embedder: SentenceTransformerEmbedder) -> Store:
    store.ensure(embedder.dimension)
    ingest_documents(sample_documents(), embedder, store, LIMITS)
    replace_route_examples("triage", ROUTE_EXAMPLES, embedder, store)
    return store


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Iterator[Store]:
    qdrant = open_qdrant("", "", tmp_path_factory.mktemp("local-mode"))
    yield filled(qdrant_store(qdrant, "tutorbook", 1000), embedder)
    qdrant.close()


@pytest.fixture(scope="module", params=["edge", "server"])
def candidate(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder
) -> Iterator[Store]:
    tmp_path = tmp_path_factory.mktemp("candidate")
    if request.param == "server":
        url = os.environ.get("TUTORBOOK_RETRIEVER_STORE__QDRANT_URL", "")
        if not url:
            pytest.skip("TUTORBOOK_RETRIEVER_STORE__QDRANT_URL is not set: no Qdrant server to compare")
        qdrant = open_qdrant(url, "", tmp_path)
        yield filled(qdrant_store(qdrant, f"test_{uuid.uuid4().hex}", 1000), embedder)
        qdrant.close()
        return
    shards = EdgeShards(tmp_path / "edge")
    yield filled(edge_store(shards, "tutorbook", 1000), embedder)
    shards.close()


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_every_backend_finds_the_same_chunks_with_the_same_scores(
    reference: Store, candidate: Store, embedder: SentenceTransformerEmbedder, mode: str
) -> None:
    for question in QUESTIONS:
        options = SearchOptions(top_k=5, mode=mode)  # type: ignore[arg-type]
        expected = search_chunks(question, options, embedder, reference).hits
        found = search_chunks(question, options, embedder, candidate).hits
        assert [hit.chunk_id for hit in found] == [hit.chunk_id for hit in expected], question
        assert [hit.score for hit in found] == pytest.approx([hit.score for hit in expected], abs=1e-4), question


def test_every_backend_keeps_the_same_registry_and_route_examples(
    reference: Store, candidate: Store, embedder: SentenceTransformerEmbedder
) -> None:
    assert [(r.doc_id, r.content_hash, r.chunks) for r in candidate.registry.all()] == [
        (r.doc_id, r.content_hash, r.chunks) for r in reference.registry.all()
    ]
    assert candidate.chunks.count() == reference.chunks.count()
    assert candidate.routes.counts() == reference.routes.counts() == {"triage": 2}
    [vector] = embedder.embed(["Which team should take this ticket?"])
    assert candidate.routes.search(vector, 5) == pytest.approx(reference.routes.search(vector, 5))


def test_a_folder_of_the_earlier_default_is_migrated_to_edge_on_first_start(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    """Written by the earlier embedded backend (local mode under <data_dir>/qdrant): the first start copies
    every point with its vectors (nothing re-embedded), keeps the old folder, and searches find the same."""
    old = open_qdrant("", "", tmp_path / "qdrant")
    earlier = filled(qdrant_store(old, "tutorbook", 1000), embedder)
    earlier.questions.put("cache-key-1", "How long is the warranty?", earlier.registry.index_version(), [0.1] * 384)
    old_version = earlier.registry.index_version()
    expected = search_chunks(QUESTIONS[0], SearchOptions(top_k=5), embedder, earlier).hits
    documents = [(r.doc_id, r.content_hash) for r in earlier.registry.all()]
    old.close()
    old_files = sorted(path.relative_to(tmp_path) for path in (tmp_path / "qdrant").rglob("*"))

    settings = configured(RetrieverSettings, shared__data_dir=tmp_path, shared__internal_token=INTERNAL_TOKEN)
    with internal_client(create_app(settings, embedder=embedder)) as client:
        listed = client.get("/v1/documents", params={"limit": 1000}).json()["documents"]
        assert [(item["id"], item["content_hash"]) for item in listed] == documents
        found = client.post("/v1/search", json={"query": QUESTIONS[0], "top_k": 5}).json()
        assert [hit["chunk_id"] for hit in found["hits"]] == [hit.chunk_id for hit in expected]
        assert found["index_version"] > old_version  # caches keyed on the old version start again
        assert client.get("/v1/route-examples").json() == {"adapters": {"triage": 2}}
    assert (tmp_path / "qdrant-edge").is_dir() and not (tmp_path / "qdrant-edge.partial").exists()
    assert sorted(path.relative_to(tmp_path) for path in (tmp_path / "qdrant").rglob("*")) == old_files
    with internal_client(create_app(settings, embedder=embedder)) as client:  # once: the next start just loads
        assert client.get("/v1/documents").json()["total"] == len(documents)
