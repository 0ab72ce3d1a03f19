"""A document the retriever acknowledged survives ``kill -9`` of the process and a restart, even in the
middle of a large ingestion, and no document is ever left half-indexed."""

import contextlib
import os
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import INTERNAL, eventually, free_port
from tests.integration.retriever_process import start_retriever
from tutorbook_devstack.processes import ServiceProcess

# Where ingestion is held for the kill (tests/integration/retriever_probe.py): its batch's chunks written
# and no document switched to them yet; or the documents switched, their old chunks not yet deleted.
PHASES = ["chunks-written", "switched"]


def test_acknowledged_documents_survive_kill_9(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = start_retriever(tmp_path, port)
    try:
        documents = [{"id": f"doc-{i}", "text": f"Product number {i} has warranty code W{i}."} for i in range(20)]
        response = httpx.post(f"{url}/v1/documents", json={"documents": documents}, headers=INTERNAL, timeout=60)
        assert response.status_code == 200
        version = response.json()["index_version"]
    finally:
        os.kill(first.process.pid, signal.SIGKILL)  # no shutdown hook runs
        first.process.wait(10)
    second = start_retriever(tmp_path, port)
    try:
        listing = httpx.get(f"{url}/v1/documents", headers=INTERNAL).json()
        assert listing["total"] == 20 and listing["index_version"] == version
        hits = httpx.post(f"{url}/v1/search", json={"query": "warranty code W17", "top_k": 1}, headers=INTERNAL).json()[
            "hits"
        ]
        assert hits[0]["doc_id"] == "doc-17"
    finally:
        second.stop()


def manual(number: int, edition: int = 1) -> dict[str, object]:
    """A document of several chunks, each sentence naming the document and its edition (so every chunk can
    be found, and told apart from another edition's); a later edition has one part more."""

    def sentence(part: int, step: int) -> str:
        return f"Manual {number} edition E{edition} part {part} step {step} explains setting M{number}."

    sections = "\n\n".join(
        f"## Part {part}\n" + " ".join(sentence(part, step) for step in range(12)) for part in range(3 + edition)
    )
    return {"id": f"manual-{number}", "title": f"Manual {number}", "text": sections, "metadata": {"manual": number}}


def editions_found(client: httpx.Client, item: dict[str, Any]) -> list[str]:
    """The edition each of a listed document's chunks comes from."""
    body = {"query": f"setting M{item['metadata']['manual']}", "top_k": 50, "mode": "lexical",
            "filters": {"manual": item["metadata"]["manual"]}}  # fmt: skip
    hits = client.post("/v1/search", json=body).json()["hits"]
    return [edition for hit in hits for edition in ("E1", "E2") if f"edition {edition} " in hit["text"]]


@pytest.mark.parametrize("phase", PHASES)
def test_kill_9_during_a_large_ingestion_loses_no_acknowledged_document_and_leaves_none_half_indexed(
    tmp_path: Path, phase: str
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    documents = [manual(number) for number in range(48)]
    batches = [documents[start : start + 8] for start in range(0, len(documents), 8)]
    acknowledged: list[str] = []
    probe = tmp_path / "probe"
    first = start_retriever(tmp_path, port, probe=probe)
    with httpx.Client(base_url=url, headers=INTERNAL, timeout=60) as client:
        for batch in batches[:3]:
            assert client.post("/v1/documents", json={"documents": batch}).status_code == 200
            acknowledged += [str(document["id"]) for document in batch]
        kill_while_posting(first, client, documents[24:], probe, phase)  # about 100 chunks
    second = start_retriever(tmp_path, port)
    try:
        with httpx.Client(base_url=url, headers=INTERNAL, timeout=60) as client:
            listed = client.get("/v1/documents", params={"limit": 1000}).json()["documents"]
            assert set(acknowledged) <= {item["id"] for item in listed}
            for item in listed:  # acknowledged or not, a listed document is whole
                assert len(editions_found(client, item)) == item["chunks"] > 1, item["id"]
            statuses = [
                result["status"]
                for batch in batches
                for result in client.post("/v1/documents", json={"documents": batch}).json()["results"]
            ]
        listed_ids = {item["id"] for item in listed}
        assert statuses.count("unchanged") == len(listed_ids)  # a re-run does only the missing work
        assert statuses.count("created") == len(documents) - len(listed_ids)
    finally:
        second.stop()


@pytest.mark.parametrize("phase", PHASES)
def test_kill_9_while_documents_are_replaced_leaves_each_whole_in_one_edition(tmp_path: Path, phase: str) -> None:
    """Every document stored, then all of them replaced by a new edition in one batch, and the retriever
    killed while it writes: after a restart each document is entirely the old edition or entirely the
    new, never a mix or a gap; sending the new edition again finishes the job."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first_editions = [manual(number) for number in range(24)]
    probe = tmp_path / "probe"
    first = start_retriever(tmp_path, port, probe=probe)
    with httpx.Client(base_url=url, headers=INTERNAL, timeout=60) as client:
        assert client.post("/v1/documents", json={"documents": first_editions}).status_code == 200
        second_editions = [manual(number, edition=2) for number in range(24)]
        kill_while_posting(first, client, second_editions, probe, phase)  # about 120 chunks
    second = start_retriever(tmp_path, port)
    try:
        with httpx.Client(base_url=url, headers=INTERNAL, timeout=60) as client:
            listed = client.get("/v1/documents", params={"limit": 1000}).json()["documents"]
            assert len(listed) == 24  # a replacement never loses the document it replaces
            for item in listed:
                editions = editions_found(client, item)
                assert len(editions) == item["chunks"] and len(set(editions)) == 1, (item["id"], editions)
            again = client.post("/v1/documents", json={"documents": second_editions}).json()["results"]
            assert {result["status"] for result in again} <= {"updated", "unchanged"}
            relisted = client.get("/v1/documents", params={"limit": 1000}).json()["documents"]
            assert all(set(editions_found(client, item)) == {"E2"} for item in relisted)
    finally:
        second.stop()


def kill_while_posting(
    retriever: ServiceProcess, client: httpx.Client, batch: list[dict[str, object]], probe: Path, phase: str
) -> None:
    """Send ``batch`` and ``kill -9`` the retriever (started with ``probe``) once its ingestion of the batch
    has reached ``phase`` and is held there: after the batch arrived, before it is answered."""
    answers: list[int] = []

    def post() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the process is killed under it
            answers.append(client.post("/v1/documents", json={"documents": batch}).status_code)

    paused = probe / "paused-at"
    probe.mkdir(exist_ok=True)
    (probe / "pause-at").write_text(phase)  # only this batch: the earlier ones were answered
    in_flight = threading.Thread(target=post)
    in_flight.start()
    try:
        eventually(lambda: paused.is_file() or not in_flight.is_alive(), 120, f"the ingestion to reach {phase}")
    finally:
        os.kill(retriever.process.pid, signal.SIGKILL)  # no shutdown hook runs
        retriever.process.wait(10)
        in_flight.join()
    assert answers == [], "the kill landed after the batch was answered: it tested nothing"
    assert paused.is_file() and paused.read_text() == phase, "the kill did not land in the phase under test"
