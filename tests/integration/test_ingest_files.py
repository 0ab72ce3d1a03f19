"""Ingesting a folder of mixed formats through the CLI's code path into the real retriever, and the command
itself against a retriever process."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import INTERNAL_TOKEN, free_port
from tests.integration.retriever_process import start_retriever
from tests.integration.test_retriever import search
from tutorbook_retriever.ingest_cli import ingest_paths
from tutorbook_retriever.loaders import FieldMapping, load_file


def minimal_pdf(lines: list[str]) -> bytes:
    """A one-page PDF with Helvetica text, built by hand (no PDF writer is needed for the test)."""
    text = " ".join(f"({line}) Tj 0 -18 Td" for line in lines)
    stream = f"BT /F1 12 Tf 72 720 Td {text} ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def write_corpus(folder: Path) -> None:
    (folder / "guides").mkdir(parents=True)
    (folder / "guides/kettle.md").write_text("# Kettle K1\n\n## Capacity\nThe kettle boils 1.7 litres.\n")
    (folder / "notes.txt").write_text("Toaster T2\nThe toaster has four slots and a bagel mode.\n")
    (folder / "fan.html").write_text(
        "<html><head><title>Fan F3</title><script>var x = 1;</script></head><body>"
        "<h1>Fan F3</h1><h2>Setup</h2><p>Mount the fan on the wall bracket.</p><ul><li>Speed 1</li></ul></body></html>"
    )
    (folder / "blender.pdf").write_bytes(minimal_pdf(["Blender B4 manual", "The blender jar holds 2 litres."]))
    (folder / "faq.jsonl").write_text(
        "\n".join(
            json.dumps(record)
            for record in [
                {"id": "faq-1", "title": "Shipping", "text": "Orders ship in 2 days.", "category": "policy"},
                {"id": "faq-2", "title": "Returns", "text": "Returns within 30 days.", "category": "policy"},
            ]
        )
    )
    (folder / "parts.csv").write_text("sku,name,body,brand\nP-1,Filter,Carbon filter for the F3 fan.,Acme\n")
    (folder / "broken.json").write_text("{not json")
    (folder / "empty-record.json").write_text(json.dumps([{"id": "e-1", "text": ""}]))


class AnswerLost:
    """A server that commits each batch but whose answer never arrives (a timeout on the way back)."""

    def __init__(self, client: TestClient[Litestar]) -> None:
        self.client = client

    def post(self, url: str, *, json: Any) -> httpx.Response:
        self.client.post(url, json=json)
        raise httpx.ReadTimeout("timed out")

    def get(self, url: str) -> httpx.Response:
        return self.client.get(url)


def test_a_mixed_folder_is_ingested_and_failures_are_explained(tmp_path: Path, retriever: TestClient[Litestar]) -> None:
    tmp_path = tmp_path / "corpus"  # the retriever keeps its own files in tmp_path
    write_corpus(tmp_path)
    summary = ingest_paths(retriever, [tmp_path], FieldMapping(), batch_size=4)
    assert summary.files == 8
    assert summary.created == 6  # md, txt, html, pdf, 2 jsonl records; the csv lacks an "id"/"text" field
    failed = dict(summary.failed)
    assert "cannot parse JSON" in failed[str(tmp_path / "broken.json")]
    assert "has no 'id' field" in failed[str(tmp_path / "parts.csv")]
    assert "has no 'text' field" in failed[str(tmp_path / "empty-record.json")]
    assert search(retriever, "how many litres does the blender jar hold", top_k=1)[0]["doc_id"] == "blender"
    assert search(retriever, "wall bracket mounting", top_k=1)[0]["section"] == "Fan F3 > Setup"
    again = ingest_paths(retriever, [tmp_path], FieldMapping(), batch_size=4)
    assert again.unchanged == 6 and again.created == 0 and again.chunks == 0


def test_record_fields_are_mapped(tmp_path: Path, retriever: TestClient[Litestar]) -> None:
    tmp_path = tmp_path / "corpus"
    write_corpus(tmp_path)
    mapping = FieldMapping(id="sku", title="name", text="body", metadata=("brand",))
    summary = ingest_paths(retriever, [tmp_path / "parts.csv"], mapping, batch_size=4)
    assert summary.created == 1 and not summary.failed
    hit = search(retriever, "carbon filter", top_k=1)[0]
    assert (hit["doc_id"], hit["title"]) == ("P-1", "Filter")
    assert hit["metadata"] == {"brand": "Acme", "source": "parts.csv"}


def test_a_document_the_server_refuses_does_not_sink_its_batch(tmp_path: Path, retriever: TestClient[Litestar]) -> None:
    tmp_path = tmp_path / "corpus"
    tmp_path.mkdir()
    (tmp_path / "good.md").write_text("# Good\n\nA good document.")
    (tmp_path / "huge.txt").write_text("x " * 15_000)  # over the retriever's size limit in these tests
    summary = ingest_paths(retriever, [tmp_path], FieldMapping(), batch_size=16)
    assert summary.created == 1
    assert [where for where, _ in summary.failed] == ["huge"]
    assert "limit" in summary.failed[0][1]


def test_html_headings_become_markdown_sections(tmp_path: Path) -> None:
    write_corpus(tmp_path)
    [document] = load_file(tmp_path / "fan.html", tmp_path)
    assert document["title"] == "Fan F3"
    assert "## Setup\n\nMount the fan on the wall bracket." in document["text"]
    assert "var x" not in document["text"] and "- Speed 1" in document["text"]


def test_a_batch_committed_without_an_answer_is_not_reported_as_failed(
    tmp_path: Path, retriever: TestClient[Litestar]
) -> None:
    """The server committed, the answer was lost (a gateway timeout, a dropped connection): the tool asks
    the server for each document, counts what it holds, and a re-run writes nothing again."""
    corpus = tmp_path / "corpus"  # tmp_path is the retriever's data folder
    corpus.mkdir()
    (corpus / "kettle.md").write_text("# Kettle K1\n\nThe kettle boils 1.7 litres.")
    (corpus / "toaster.md").write_text("# Toaster T2\n\nThe toaster has four slots.")
    summary = ingest_paths(AnswerLost(retriever), [corpus], FieldMapping(), batch_size=16)
    assert (summary.confirmed, summary.failed) == (2, [])
    again = ingest_paths(retriever, [corpus], FieldMapping(), batch_size=16)
    assert (again.unchanged, again.created, again.failed) == (2, 0, [])


def test_the_command_prints_its_summary_and_exits_1_when_anything_failed(tmp_path: Path) -> None:
    """``tutorbook-ingest`` itself, against a real retriever process: the summary on stdout, exit code 1
    when a file failed and 0 when everything went in, and a plain message when there is no key."""
    port = free_port()
    retriever = start_retriever(tmp_path / "retriever", port)
    good = tmp_path / "good"
    good.mkdir()
    (good / "kettle.md").write_text("# Kettle\n\nThe kettle boils a litre of water in two minutes.\n")
    write_corpus(tmp_path / "mixed")
    env = {name: value for name, value in os.environ.items() if not name.startswith("TUTORBOOK_ADMIN")}

    def ingest_command(folder: Path, *key: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "tutorbook_retriever.ingest_cli", str(folder), "--batch", "4"]
        command += ["--url", f"http://127.0.0.1:{port}", *key]
        return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)

    try:
        mixed = ingest_command(tmp_path / "mixed", "--key", INTERNAL_TOKEN)
        assert mixed.returncode == 1, mixed.stderr
        assert re.search(r"^documents created +6$", mixed.stdout, re.M), mixed.stdout
        assert "failed: " in mixed.stdout and "broken.json: cannot parse JSON" in mixed.stdout
        clean = ingest_command(good, "--key", INTERNAL_TOKEN)
        assert clean.returncode == 0, clean.stdout + clean.stderr
        assert re.search(r"^documents created +1$", clean.stdout, re.M) and re.search(
            r"^failed +0$", clean.stdout, re.M
        )
        keyless = ingest_command(good)
        assert keyless.returncode == 1 and keyless.stderr.startswith("no admin key: pass --key")
    finally:
        retriever.stop()


def write_corpus_with_access(folder: Path) -> None:
    folder.mkdir()
    (folder / "payroll.md").write_text(
        "---\ntitle: Payroll runbook\naccess: [team-a]\nauthor: Ann\n---\n# Payroll\n\nSalaries are paid on the 25th.\n"
    )
    (folder / "handbook.md").write_text("# Handbook\n\nHolidays are listed on the intranet.\n")
    (folder / "notes.txt").write_text("---\naccess: team-c, public\n---\nParking notes\nThe car park opens at 7.\n")
    records = [
        {"id": "rec-list", "text": "The canteen opens at noon.", "access": ["team-d"], "floor": 2},
        {"id": "rec-text", "text": "The gym opens at six.", "access": "team-d,team-e"},
        {"id": "rec-none", "text": "The library opens at nine."},
    ]
    (folder / "records.jsonl").write_text("\n".join(json.dumps(record) for record in records))


def test_front_matter_record_fields_and_the_access_flag_say_who_may_see_each_document(
    tmp_path: Path, retriever: TestClient[Litestar]
) -> None:
    """Front matter and a record's access field win; --access covers the rest; the front matter is not
    indexed; and a re-run (the client's content hash matching the server's, access included) writes nothing."""
    corpus = tmp_path / "corpus"  # tmp_path is the retriever's data folder
    write_corpus_with_access(corpus)
    summary = ingest_paths(retriever, [corpus], FieldMapping(), batch_size=16, access=["team-b", "public"])
    assert (summary.created, summary.failed) == (6, [])
    listed = {d["id"]: d for d in retriever.get("/v1/documents").json()["documents"]}
    assert {doc_id: d["access"] for doc_id, d in listed.items()} == {
        "payroll": ["team-a"],
        "handbook": ["public", "team-b"],
        "notes": ["public", "team-c"],
        "rec-list": ["team-d"],
        "rec-text": ["team-d", "team-e"],
        "rec-none": ["public", "team-b"],
    }
    assert (listed["payroll"]["title"], listed["notes"]["title"]) == ("Payroll runbook", "Parking notes")
    assert listed["rec-list"]["metadata"] == {"floor": 2, "source": "records.jsonl"}  # access is not metadata
    body = {"query": "when are salaries paid", "top_k": 1, "visible_to": ["team-a"]}
    [hit] = retriever.post("/v1/search", json=body).json()["hits"]
    assert hit["doc_id"] == "payroll" and "access:" not in hit["text"] and "---" not in hit["text"]
    lost = ingest_paths(AnswerLost(retriever), [corpus], FieldMapping(), batch_size=16, access=["team-b", "public"])
    assert (lost.confirmed, lost.failed) == (6, [])  # is_stored computes the same hash as the server
    again = ingest_paths(retriever, [corpus], FieldMapping(), batch_size=16, access=["team-b", "public"])
    assert (again.unchanged, again.created, again.updated) == (6, 0, 0)
    moved = ingest_paths(retriever, [corpus], FieldMapping(), batch_size=16, access=["team-b"])
    assert (moved.updated, moved.unchanged) == (2, 4)  # only the documents the flag applies to changed
