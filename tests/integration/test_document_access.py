"""Documents a team may see, on the real embedder and real Qdrant: Qdrant Edge always, a Qdrant server when
TUTORBOOK_RETRIEVER_STORE__QDRANT_URL is set (and qdrant-client's local mode for the store-level tests).
A team's question is answered only from documents its access list allows, the filter applied inside Qdrant
before the top k is taken; documents from before access lists count as public."""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from qdrant_client import models
from qdrant_edge import PayloadSchemaType

from tests.integration.test_retriever import indexed_chunks, ingest
from tutorbook_retriever.chunking import chunk_document
from tutorbook_retriever.clients.chunk_index import DENSE, LEXICAL
from tutorbook_retriever.clients.document_registry import DocumentRecord
from tutorbook_retriever.clients.edge.chunks import chunks_config
from tutorbook_retriever.clients.edge.shards import EdgeShards
from tutorbook_retriever.clients.embedder import SentenceTransformerEmbedder
from tutorbook_retriever.clients.qdrant import cosine_vectors, open_qdrant
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.ingestion import IngestLimits, build_points, content_hash, ingest_documents
from tutorbook_retriever.schemas import DocumentIn
from tutorbook_retriever.search import SearchOptions, search_chunks
from tutorbook_retriever.vectors import embedding_text, vectorize
from tutorbook_retriever.wiring import edge_store, qdrant_store

Client = TestClient[Litestar]
MODES = ["dense", "lexical", "hybrid"]
LIMITS = IngestLimits(64, 100_000, 200, 32)
TEAM_B = ["team-b", "public"]
PAYROLL = {
    "id": "payroll",
    "title": "Payroll runbook",
    "text": "# Payroll runbook\n\nSalaries of team A are paid on the 25th through the Northwind payroll portal.",
    "access": ["team-a"],
}
HANDBOOK = {
    "id": "handbook",
    "title": "Employee handbook",
    "text": "# Employee handbook\n\nSalaries are paid every month; the payroll calendar is on the intranet.",
}
QUESTION = "When are salaries paid through the Northwind payroll portal?"


def found(client: Client, mode: str, visible_to: list[str] | None, query: str = QUESTION) -> set[str]:
    body: dict[str, Any] = {"query": query, "top_k": 10, "mode": mode}
    if visible_to is not None:
        body["visible_to"] = visible_to
    response = client.post("/v1/search", json=body)
    assert response.status_code == 200, response.text
    return {hit["doc_id"] for hit in response.json()["hits"]}


@pytest.mark.parametrize("mode", MODES)
def test_a_teams_private_document_is_never_found_by_another_team(retriever: Client, mode: str) -> None:
    ingest(retriever, [PAYROLL, HANDBOOK])
    assert found(retriever, mode, TEAM_B) == {"handbook"}
    assert found(retriever, mode, ["team-b"]) == set()  # public documents are seen by naming "public"
    assert found(retriever, mode, ["team-a", "public"]) == {"payroll", "handbook"}
    assert found(retriever, mode, None) == {"payroll", "handbook"}  # no visible_to: as before (admins)


def test_listing_reading_and_deleting_answer_only_for_documents_the_caller_may_see(retriever: Client) -> None:
    ingest(retriever, [PAYROLL, HANDBOOK])
    listed = retriever.get("/v1/documents", params={"visible_to": "team-b,public"}).json()
    assert [(d["id"], d["access"]) for d in listed["documents"]] == [("handbook", ["public"])]
    assert listed["total"] == 1
    everything = retriever.get("/v1/documents").json()
    assert [(d["id"], d["access"]) for d in everything["documents"]] == [
        ("handbook", ["public"]),
        ("payroll", ["team-a"]),
    ]
    hidden = retriever.get("/v1/documents/payroll", params={"visible_to": "team-b,public"})
    missing = retriever.get("/v1/documents/no-such-document", params={"visible_to": "team-b,public"})
    assert hidden.status_code == missing.status_code == 404  # the same answer: no hint that it exists
    assert hidden.json()["error"] == missing.json()["error"] | {"message": "document 'payroll' does not exist"}
    assert retriever.get("/v1/documents/payroll", params={"visible_to": "team-a"}).json()["access"] == ["team-a"]
    refused = retriever.delete("/v1/documents/payroll", params={"visible_to": "team-b,public"})
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "document_not_found"
    assert found(retriever, "hybrid", ["team-a"]) == {"payroll"}  # still there
    assert retriever.delete("/v1/documents/payroll", params={"visible_to": "team-a,public"}).status_code == 200
    assert [d["id"] for d in retriever.get("/v1/documents").json()["documents"]] == ["handbook"]
    bad = retriever.get("/v1/documents", params={"visible_to": "team-b,,public"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "visible_to"


def test_a_team_changes_only_documents_whose_access_list_names_it(retriever: Client) -> None:
    ingest(retriever, [PAYROLL, HANDBOOK])
    before = retriever.get("/v1/documents").json()["documents"]
    taken = {"documents": [{"id": "payroll", "text": "Team B's now.", "access": ["team-b"]}]}
    refused = retriever.post("/v1/documents", json=taken, params={"team": "team-b"})
    assert refused.status_code == 403 and refused.json()["error"]["param"] == "documents[0].id"
    public = {"documents": [{"id": "handbook", "text": "Rewritten by team B.", "access": ["team-b"]}]}
    assert retriever.post("/v1/documents", json=public, params={"team": "team-b"}).status_code == 403
    deleted = retriever.delete("/v1/documents/handbook", params={"visible_to": "team-b,public", "team": "team-b"})
    assert deleted.status_code == 403  # seen, as public, but an admin's to change
    assert retriever.get("/v1/documents").json()["documents"] == before  # nothing changed
    assert found(retriever, "hybrid", ["team-a"]) == {"payroll"}
    own = {"documents": [{"id": "payroll", "text": "Salaries of team A are paid on the 26th.", "access": ["team-a"]}]}
    assert (
        retriever.post("/v1/documents", json=own, params={"team": "team-a"}).json()["results"][0]["status"] == "updated"
    )
    mine = retriever.delete("/v1/documents/payroll", params={"visible_to": "team-a,public", "team": "team-a"})
    assert mine.status_code == 200


def test_an_access_only_change_is_a_new_version_and_leaves_no_old_chunks(retriever: Client) -> None:
    public = {**PAYROLL, "access": ["public"]}
    first = ingest(retriever, [public])
    before = retriever.get("/v1/documents/payroll").json()
    chunks = indexed_chunks(retriever)
    assert found(retriever, "hybrid", TEAM_B) == {"payroll"}
    changed = ingest(retriever, [PAYROLL])
    assert changed["results"][0]["status"] == "updated" and changed["index_version"] > first["index_version"]
    after = retriever.get("/v1/documents/payroll").json()
    assert after["content_hash"] != before["content_hash"] and after["access"] == ["team-a"]
    assert indexed_chunks(retriever) == chunks  # the public chunks were deleted, not left beside the new ones
    for mode in MODES:
        assert found(retriever, mode, TEAM_B) == set()
        assert found(retriever, mode, ["team-a"]) == {"payroll"}
    assert ingest(retriever, [{**PAYROLL, "access": ["team-a"]}])["results"][0]["status"] == "unchanged"


@pytest.mark.parametrize(
    ("method", "path", "body", "param"),
    [
        ("POST", "/v1/documents", {"documents": [{**HANDBOOK, "access": []}]}, "documents[0].access"),
        ("POST", "/v1/documents", {"documents": [HANDBOOK, {**PAYROLL, "access": ["Team A"]}]}, "documents[1].access"),
        ("POST", "/v1/search", {"query": "salaries", "visible_to": []}, "visible_to"),
        ("POST", "/v1/search", {"query": "salaries", "visible_to": ["public", "public"]}, "visible_to"),
        ("POST", "/v1/search", {"query": "salaries", "team": "Team A"}, "team"),
        ("PUT", "/v1/answered-questions", {"key": "k", "question": "q?", "index_version": 1, "team": "a b"}, "team"),
    ],
)
def test_bad_access_lists_and_teams_are_refused_with_the_field_named(
    retriever: Client, method: str, path: str, body: dict[str, Any], param: str
) -> None:
    response = retriever.request(method, path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert retriever.get("/v1/documents").json()["total"] == 0  # nothing written


def test_one_teams_answered_question_never_matches_another_teams_query(retriever: Client) -> None:
    version = retriever.get("/v1/index-version").json()["index_version"]
    body = {"key": "answer-of-a", "question": "How long is the warranty?", "index_version": version, "team": "team-a"}
    assert retriever.put("/v1/answered-questions", json=body).json() == {"key": "answer-of-a", "kept": True}

    def similar(team: str | None) -> Any:
        query: dict[str, Any] = {"query": "What is the warranty period?", "similar_questions": True}
        response = retriever.post("/v1/search", json=query | ({} if team is None else {"team": team}))
        assert response.status_code == 200, response.text
        return response.json()["similar"]

    assert similar("team-b") is None
    assert similar("team-a")["key"] == "answer-of-a"
    assert similar(None)["key"] == "answer-of-a"  # no team given: as before


@pytest.fixture(params=["edge", "local", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path, embedder: SentenceTransformerEmbedder) -> Iterator[Store]:
    """Each backend behind the same Store, empty: Edge, qdrant-client's local mode, and a server when set."""
    if request.param == "edge":
        shards = EdgeShards(tmp_path / "edge")
        store = edge_store(shards, "tutorbook", 100)
        store.ensure(embedder.dimension)
        yield store
        shards.close()
        return
    url = os.environ.get("TUTORBOOK_RETRIEVER_STORE__QDRANT_URL", "") if request.param == "server" else ""
    if request.param == "server" and not url:
        pytest.skip("TUTORBOOK_RETRIEVER_STORE__QDRANT_URL is not set: no Qdrant server to test against")
    qdrant = open_qdrant(url, "", tmp_path / "local")
    store = qdrant_store(qdrant, f"test_{uuid.uuid4().hex}" if url else "tutorbook", 100)
    store.ensure(embedder.dimension)
    yield store
    qdrant.close()


def write_legacy_document(document: DocumentIn, embedder: SentenceTransformerEmbedder, store: Store) -> None:
    """As ingestion wrote a document before access lists: no ``access`` in its chunks nor its record."""
    digest = content_hash(document)
    chunks = chunk_document(document.text, LIMITS.chunk_max_tokens, LIMITS.chunk_overlap_tokens)
    vectors = vectorize([embedding_text(document.title, chunk) for chunk in chunks], embedder)
    points = build_points(document, digest, chunks, vectors.dense, vectors.sparse)
    for point in points:
        del point.payload["access"]
    store.chunks.write(points)
    store.registry.put([DocumentRecord(document.id, document.title, digest, len(chunks))])
    store.registry.bump_version()


@pytest.mark.parametrize("mode", MODES)
def test_a_document_from_before_access_lists_counts_as_public(
    store: Store, embedder: SentenceTransformerEmbedder, mode: str
) -> None:
    write_legacy_document(msgspec.convert(HANDBOOK, DocumentIn), embedder, store)
    ingest_documents([msgspec.convert(PAYROLL, DocumentIn)], embedder, store, LIMITS)
    options = SearchOptions(top_k=10, mode=mode, visible_to=TEAM_B)  # type: ignore[arg-type]
    assert {hit.doc_id for hit in search_chunks(QUESTION, options, embedder, store).hits} == {"handbook"}
    record = store.registry.get("handbook")
    assert record is not None and record.access == []  # listed to every team (tested in the unit tier)


@pytest.mark.parametrize("mode", MODES)
def test_the_access_filter_is_applied_before_the_top_k_is_taken(
    store: Store, embedder: SentenceTransformerEmbedder, mode: str
) -> None:
    """Five team-a documents rank above the public one; with one candidate per signal, a filter applied after
    Qdrant's top k would leave team b with nothing."""
    private = [
        DocumentIn(id=f"payroll-{n}", title="Payroll", text=f"{PAYROLL['text']} Run {n}.", access=["team-a"])
        for n in range(5)
    ]
    public = DocumentIn(id="holidays", title="Holidays", text="Offices close on public holidays. Salaries are paid.")
    ingest_documents([*private, public], embedder, store, LIMITS)
    unfiltered = SearchOptions(top_k=1, mode=mode, candidates=1)  # type: ignore[arg-type]
    assert search_chunks(QUESTION, unfiltered, embedder, store).hits[0].doc_id.startswith("payroll-")
    filtered = SearchOptions(top_k=1, mode=mode, candidates=1, visible_to=TEAM_B)  # type: ignore[arg-type]
    assert [hit.doc_id for hit in search_chunks(QUESTION, filtered, embedder, store).hits] == ["holidays"]


def test_a_shard_written_before_access_lists_gets_its_indexes_when_loaded(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    dimension, keyword = embedder.dimension, PayloadSchemaType.Keyword
    earlier = EdgeShards(tmp_path)
    earlier.open("tutorbook_chunks", chunks_config(dimension), {"doc_id": keyword, "content_hash": keyword})
    earlier.close()
    shards = EdgeShards(tmp_path)
    edge_store(shards, "tutorbook", 100).ensure(dimension)
    indexed = shards.open_graph("tutorbook_chunks", chunks_config(dimension), {}).info().payload_schema
    assert {key: info.data_type for key, info in indexed.items()} == {
        "doc_id": keyword,
        "content_hash": keyword,
        "access": keyword,
    }
    questions = shards.open("tutorbook_answered_questions", chunks_config(dimension))  # opened: config unused
    assert "team" in questions.info().payload_schema
    shards.close()


def test_a_server_collection_made_before_access_lists_gets_its_index(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    url = os.environ.get("TUTORBOOK_RETRIEVER_STORE__QDRANT_URL", "")
    if not url:
        pytest.skip("TUTORBOOK_RETRIEVER_STORE__QDRANT_URL is not set: no Qdrant server to test against")
    qdrant = open_qdrant(url, "", tmp_path)
    prefix = f"test_{uuid.uuid4().hex}"
    sparse = {LEXICAL: models.SparseVectorParams(modifier=models.Modifier.IDF)}
    vectors = {DENSE: cosine_vectors(embedder.dimension)}
    qdrant.client.create_collection(f"{prefix}_chunks", vectors_config=vectors, sparse_vectors_config=sparse)
    try:
        qdrant_store(qdrant, prefix, 100).ensure(embedder.dimension)
        schema = qdrant.client.get_collection(f"{prefix}_chunks").payload_schema
        assert {"doc_id", "content_hash", "access"} <= set(schema)
    finally:
        qdrant.close()
