"""The retriever with the real embedder and real Qdrant (Qdrant Edge in-process; a server when configured)."""

import json
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import INTERNAL_TOKEN, SAMPLES, internal_client
from tutorbook_config.key_strength import WeakKeyError
from tutorbook_config.service_settings import configured
from tutorbook_retriever.app import create_app
from tutorbook_retriever.clients.embedder import SentenceTransformerEmbedder
from tutorbook_retriever.loaders import load_markdown_folder
from tutorbook_retriever.settings import RetrieverSettings

Client = TestClient[Litestar]


def ingest(client: Client, documents: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post("/v1/documents", json={"documents": documents})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def search(client: Client, query: str, top_k: int = 5) -> list[dict[str, Any]]:
    response = client.post("/v1/search", json={"query": query, "top_k": top_k})
    assert response.status_code == 200, response.text
    hits: list[dict[str, Any]] = response.json()["hits"]
    return hits


def indexed_chunks(client: Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("tutorbook_retriever_indexed_chunks "):
            return float(line.split()[1])
    raise AssertionError("indexed chunks gauge missing")


def test_sample_questions_find_their_gold_document(retriever: Client) -> None:
    result = ingest(retriever, load_markdown_folder(SAMPLES / "knowledge_base"))
    assert result["documents"] == 36
    questions = [json.loads(line) for line in (SAMPLES / "questions.jsonl").read_text().splitlines()]
    found = sum(
        question["doc_id"] in {hit["doc_id"] for hit in search(retriever, question["question"])}
        for question in questions
    )
    assert found / len(questions) >= 0.9
    hit = search(retriever, "How long is the warranty on Brightleaf products?", top_k=1)[0]
    assert hit["doc_id"] == "warranty" and hit["title"] == "Warranty Policy"
    assert set(hit) >= {"doc_id", "chunk_id", "title", "section", "text", "score", "dense_score", "lexical_score"}
    metrics = retriever.get("/metrics").text
    assert "tutorbook_retriever_query_embedding_duration_seconds_count 52.0" in metrics
    assert 'tutorbook_retriever_search_duration_seconds_count{mode="hybrid"} 52.0' in metrics
    assert "tutorbook_retriever_indexed_documents 36.0" in metrics


def test_reingesting_a_document_replaces_all_its_chunks(retriever: Client) -> None:
    ingest(retriever, [{"id": "kettle", "title": "Kettle", "text": "# Kettle\n\nThe kettle boils 1.7 litres."}])
    ingest(retriever, [{"id": "toaster", "title": "Toaster", "text": "# Toaster\n\nFour slots."}])
    before = indexed_chunks(retriever)
    ingest(retriever, [{"id": "kettle", "title": "Kettle", "text": "# Kettle\n\nThe kettle now boils 2 litres."}])
    texts = [hit["text"] for hit in search(retriever, "kettle capacity", top_k=10) if hit["doc_id"] == "kettle"]
    assert texts == ["The kettle now boils 2 litres."]
    assert indexed_chunks(retriever) == before


def test_a_bad_batch_is_refused_whole_and_changes_nothing(retriever: Client) -> None:
    ingest(retriever, [{"id": "kettle", "text": "The kettle boils 1.7 litres."}])
    before = search(retriever, "kettle")
    bad_batches = [
        [{"id": "fine", "text": "A fine document."}, {"id": "broken", "text": ""}],
        [{"id": "kettle", "text": "overwritten?"}, {"id": "bad id with spaces", "text": "x"}],
        [{"id": "huge", "text": "x" * 20_001}],
        [{"id": "no-text"}],
    ]
    for batch in bad_batches:
        response = retriever.post("/v1/documents", json={"documents": batch})
        assert 400 <= response.status_code < 500, batch
        assert response.json()["error"]["message"]
    assert search(retriever, "kettle") == before
    assert {hit["doc_id"] for hit in search(retriever, "fine document overwritten", top_k=10)} == {"kettle"}


def test_bad_searches_get_clear_errors(retriever: Client) -> None:
    for body in ({"query": ""}, {"query": "x", "top_k": 0}, {"query": "x", "top_k": 1000}, {"top_k": 3}):
        response = retriever.post("/v1/search", json=body)
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "invalid_request_error"


def test_documents_survive_a_restart(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    settings = configured(RetrieverSettings, shared__data_dir=tmp_path, shared__internal_token=INTERNAL_TOKEN)
    with internal_client(create_app(settings, embedder=embedder)) as first:
        ingest(first, [{"id": "kettle", "text": "The kettle boils 1.7 litres."}])
    with internal_client(create_app(settings, embedder=embedder)) as second:
        assert search(second, "kettle")[0]["doc_id"] == "kettle"
        assert second.get("/readyz").json() == {"status": "ready", "checks": {"qdrant": "ok"}}


def test_only_the_gateway_with_the_internal_token_is_answered(retriever: Client) -> None:
    """Anyone else who reaches the retriever's port gets a 401 for everything but the probes and metrics."""
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer not-the-internal-token-0000"}):
        assert retriever.get("/v1/documents", headers=headers).status_code == 401
        assert retriever.post("/v1/search", json={"query": "x"}, headers=headers).status_code == 401
        assert retriever.delete("/v1/documents/kettle", headers=headers).status_code == 401
        assert retriever.get("/metrics", headers=headers).status_code == 200
    assert retriever.get("/v1/documents").status_code == 200  # the fixture's client holds the token


@pytest.mark.parametrize("token", ["", "short-token", "replace-with-a-long-random-key"])
def test_the_retriever_refuses_to_start_with_a_weak_internal_token(tmp_path: Path, token: str) -> None:
    with pytest.raises(WeakKeyError, match="TUTORBOOK_INTERNAL_TOKEN"):
        create_app(configured(RetrieverSettings, shared__data_dir=tmp_path, shared__internal_token=token))


def test_answered_questions_are_bounded_and_earlier_versions_make_room(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    """The semantic cache's questions: at most max_answered_questions; those answered at an earlier index
    version can never be served again, so they make room for the current version's."""
    settings = configured(
        RetrieverSettings,
        shared__data_dir=tmp_path,
        shared__internal_token=INTERNAL_TOKEN,
        store__max_answered_questions=2,
    )

    def remember(client: Client, key: str, question: str, version: int) -> bool:
        body = {"key": key, "question": question, "index_version": version}
        response = client.put("/v1/answered-questions", json=body)
        assert response.status_code == 200, response.text
        return bool(response.json()["kept"])

    with internal_client(create_app(settings, embedder=embedder)) as client:
        assert remember(client, "k1", "How long is the warranty?", 1)
        assert remember(client, "k2", "Can I return a kettle?", 1)
        assert not remember(client, "k3", "Does the kettle have a filter?", 1)  # full at this version
        assert remember(client, "k4", "Does the kettle have a filter?", 2)  # version 1's questions made room
        assert remember(client, "k5", "What colour is the kettle?", 2)
        assert not remember(client, "k6", "Is the kettle cordless?", 2)


def test_similarities_score_every_sentence_against_every_candidate_with_the_real_embedder(retriever: Client) -> None:
    body = {
        "texts": ["The warranty lasts two years.", "The fan has no heater."],
        "candidates": ["Every product carries a 2-year warranty from delivery.", "Shipping takes three days."],
    }
    response = retriever.post("/v1/similarities", json=body)
    assert response.status_code == 200
    scores = response.json()["scores"]
    assert len(scores) == 2 and all(len(row) == 2 for row in scores)
    assert scores[0][0] > 0.5 > scores[0][1]  # the warranty sentence is closest to the warranty candidate
    too_many = {"texts": ["a"] * 100, "candidates": ["b"] * 61}
    assert retriever.post("/v1/similarities", json=too_many).status_code == 400
    assert retriever.post("/v1/similarities", json={"texts": ["a"], "candidates": []}).status_code == 400
