"""Document lifecycle and hybrid search on the real embedder and real Qdrant (Qdrant Edge; a server when set)."""

import threading
import time
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from tests.integration.test_retriever import ingest, search

Client = TestClient[Litestar]


def versioned_manual(version: str) -> dict[str, Any]:
    """A document of several chunks whose every sentence names its version."""
    long = " ".join(f"Filler sentence {i} of manual version {version}." for i in range(30))
    sections = "\n\n".join(f"## Part {part}\n\n{long}" for part in range(3))
    return {"id": "manual", "title": "Kettle manual", "text": f"# Kettle manual\n\n{sections}"}


def test_unchanged_documents_do_no_work_and_changes_bump_the_version(retriever: Client) -> None:
    first = ingest(retriever, [{"id": "kettle", "text": "Boils 1.7 litres."}])
    assert first["results"] == [{"id": "kettle", "status": "created", "chunks": 1, "embedded": 1}]
    again = ingest(retriever, [{"id": "kettle", "text": "Boils 1.7 litres."}])
    assert again["results"][0]["status"] == "unchanged" and again["chunks"] == again["embedded"] == 0
    assert again["index_version"] == first["index_version"]
    changed = ingest(retriever, [{"id": "kettle", "text": "Boils 2 litres."}])
    assert changed["results"][0] == {"id": "kettle", "status": "updated", "chunks": 1, "embedded": 1}
    assert changed["index_version"] > first["index_version"]
    assert search(retriever, "kettle")[0]["text"] == "Boils 2 litres."


def test_list_get_and_delete_documents(retriever: Client) -> None:
    ingest(retriever, [{"id": "a/kettle", "text": "Boils water."}, {"id": "toaster", "text": "Toasts bread."}])
    listing = retriever.get("/v1/documents").json()
    assert [doc["id"] for doc in listing["documents"]] == ["a/kettle", "toaster"] and listing["total"] == 2
    assert retriever.get("/v1/documents/a/kettle").json()["chunks"] == 1
    deleted = retriever.delete("/v1/documents/a/kettle")
    assert deleted.status_code == 200 and deleted.json()["index_version"] > listing["index_version"]
    assert {hit["doc_id"] for hit in search(retriever, "boils water kettle", top_k=10)} == {"toaster"}
    missing = retriever.delete("/v1/documents/a/kettle")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "document_not_found"
    assert retriever.get("/v1/documents/nope").status_code == 404


def test_a_search_never_sees_half_old_half_new_chunks(retriever: Client) -> None:
    assert ingest(retriever, [versioned_manual("A")])["chunks"] >= 3
    mixed: list[set[str]] = []
    searches: list[tuple[float, float]] = []  # when each search started and ended
    ingests: list[tuple[float, float]] = []
    stop = threading.Event()

    def keep_searching() -> None:
        while not stop.is_set():
            started = time.monotonic()
            hits = search(retriever, "kettle manual version filler sentence", top_k=10)
            searches.append((started, time.monotonic()))
            versions = {word for hit in hits for word in ("A", "B") if f"manual version {word}." in hit["text"]}
            if len(versions) > 1:
                mixed.append(versions)

    searcher = threading.Thread(target=keep_searching)
    searcher.start()
    try:
        for version in "BABAB":
            started = time.monotonic()
            ingest(retriever, [versioned_manual(version)])
            ingests.append((started, time.monotonic()))
    finally:
        stop.set()
        searcher.join()
    assert mixed == []
    during = [s for s in searches if any(s[0] < end and start < s[1] for start, end in ingests)]
    assert len(during) >= 5, f"only {len(during)} searches overlapped an ingest: the test proved nothing"
    texts = [hit["text"] for hit in search(retriever, "kettle manual version", top_k=10)]
    assert texts and all("manual version B." in text and "version A" not in text for text in texts)


def test_hybrid_hits_carry_each_signal_and_respect_filters(retriever: Client) -> None:
    ingest(
        retriever,
        [
            {"id": "s7-errors", "text": "Error E5 means the cliff sensor is dirty.", "metadata": {"product": "s7"}},
            {"id": "s3-errors", "text": "Error E5 on the S3 means a wheel is stuck.", "metadata": {"product": "s3"}},
            {"id": "kettle", "text": "The kettle boils water.", "metadata": {"product": "kettle"}},
        ],
    )
    hits = search(retriever, "what does error E5 mean")
    assert {hits[0]["doc_id"], hits[1]["doc_id"]} == {"s7-errors", "s3-errors"}
    assert all(hit["dense_score"] is not None for hit in hits)
    assert hits[0]["lexical_score"] > 0 and 0 < hits[0]["score"] <= 1
    body = {"query": "what does error E5 mean", "filters": {"product": ["s3", "kettle"]}}
    filtered = retriever.post("/v1/search", json=body).json()["hits"]
    assert next(hit["doc_id"] for hit in filtered) == "s3-errors"
    assert "s7-errors" not in {hit["doc_id"] for hit in filtered}
    strict = retriever.post("/v1/search", json={"query": "error E5", "score_threshold": 0.99}).json()
    assert strict["hits"] == []
    lexical = retriever.post("/v1/search", json={"query": "E5", "mode": "lexical"}).json()["hits"]
    assert {hit["doc_id"] for hit in lexical} == {"s7-errors", "s3-errors"}


def test_route_examples_are_matched_in_the_same_search(retriever: Client) -> None:
    examples = {"examples": ["Which department handles my refund?", "Route this ticket to the right team"]}
    put = retriever.put("/v1/route-examples/ticket-router", json=examples)
    assert put.status_code == 200 and put.json()["examples"] == 2
    retriever.put("/v1/route-examples/tone-rewriter", json={"examples": ["Rewrite this in our brand voice"]})
    assert retriever.get("/v1/route-examples").json()["adapters"] == {"ticket-router": 2, "tone-rewriter": 1}
    body = {"query": "which team should handle my refund ticket?", "include_routes": True}
    routes = retriever.post("/v1/search", json=body).json()["routes"]
    assert routes[0]["adapter"] == "ticket-router" and routes[0]["score"] > routes[1]["score"]
    assert retriever.delete("/v1/route-examples/ticket-router").status_code == 200
    assert retriever.get("/v1/route-examples").json()["adapters"] == {"tone-rewriter": 1}


def test_filters_qdrant_cannot_match_get_a_400_that_says_why(retriever: Client) -> None:
    """Found by generated input: these were 500s (Qdrant refuses the JSON path, or the value's type)."""
    ingest(retriever, [{"id": "kettle", "text": "The kettle boils water.", "metadata": {"product": "kettle"}}])
    refused = {
        "+\u0016\u00fd>": "a key that is no JSON path",
        "a.b": "a key with a dot",
        "": "an empty key",
    }
    for key in refused:
        response = retriever.post("/v1/search", json={"query": "kettle", "filters": {key: "x"}})
        assert response.status_code == 400 and "must be 1-64 letters" in response.json()["error"]["message"]
    for wanted in (1.5, [True, False], ["a", 1], [2.5], 2**63, [2**64]):
        response = retriever.post("/v1/search", json={"query": "kettle", "filters": {"product": wanted}})
        assert response.status_code == 400 and "filters.product must" in response.json()["error"]["message"]
    for accepted in ("kettle", 3, True, ["kettle", "s3"], [1, 2], []):
        response = retriever.post("/v1/search", json={"query": "kettle", "filters": {"product": accepted}})
        assert response.status_code == 200, (accepted, response.text)
