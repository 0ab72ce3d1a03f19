"""Adapter uploads through the HTTP API: versions, activation (rollback), deletion, hot-loading on every
replica, the router learning route examples, limits and the evaluation gate. Every refusal, each leaving
the store unchanged: test_adapter_refusals.py."""

import base64
import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.integration.adapter_archives import (
    adapter_files,
    tar_gz,
    zip_bytes,
)
from tests.integration.adapter_gateway import Gateway, upload
from tests.unit.fakes import ADMIN, USER
from tutorbook_gateway.adapters import lifecycle
from tutorbook_gateway.adapters.archive import read_archive


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    return Gateway(tmp_path)


@pytest.fixture
def client(gateway: Gateway) -> Iterator[TestClient[Litestar]]:
    with TestClient(gateway.app) as test_client:
        yield test_client


def test_upload_versions_activation_rollback_and_deletion(client: TestClient[Litestar], gateway: Gateway) -> None:
    first = upload(client, tar_gz(adapter_files(), folder="triage-adapter"))
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["name"], body["version"], body["activated"]) == ("triage", 1, True)
    assert [load["replica"] for load in body["loads"]] == ["http://replica-a", "http://replica-b"]
    assert gateway.loader.calls == [("load", "triage@1")]
    assert gateway.retriever.route_examples["triage"][0].startswith("Which department")
    models = client.get("/v1/models", headers=USER).json()["data"]
    assert {"id": "triage", "version": 1} in [
        {"id": m["id"], "version": m.get("tutorbook", {}).get("version")} for m in models
    ]

    second = upload(client, zip_bytes(adapter_files()), name="a.zip")
    assert second.status_code == 201 and second.json()["version"] == 2
    listed = client.get("/v1/adapters/triage", headers=ADMIN).json()
    assert listed["active_version"] == 2 and [v["version"] for v in listed["versions"]] == [1, 2]
    assert ("unload", "triage@1") in gateway.loader.calls  # the replaced version leaves after its grace period

    rolled_back = client.post("/v1/adapters/triage/activate", json={"version": 1}, headers=ADMIN)
    assert rolled_back.status_code == 200 and rolled_back.json()["active_version"] == 1
    assert client.post("/v1/adapters/triage/activate", json={"version": 9}, headers=ADMIN).status_code == 404

    assert client.delete("/v1/adapters/triage?version=1", headers=ADMIN).status_code == 409  # the active one
    assert client.delete("/v1/adapters/triage?version=2", headers=ADMIN).json()["deleted_versions"] == [2]
    assert client.delete("/v1/adapters/triage", headers=ADMIN).json()["deleted_versions"] == [1]
    assert client.get("/v1/adapters/triage", headers=ADMIN).status_code == 404
    assert "triage" not in gateway.retriever.route_examples
    assert [entry for entry in gateway.tree() if not entry.startswith(".")] == []
    # A deleted name's next upload is new to everything keyed by name and version (cache, vLLM's loaded LoRAs).
    again = upload(client, tar_gz(adapter_files(), folder="triage-adapter"))
    assert again.status_code == 201 and again.json()["version"] == 3
    assert ("load", "triage@3") in gateway.loader.calls


def test_a_version_that_fails_to_load_is_never_activated(client: TestClient[Litestar], gateway: Gateway) -> None:
    """A replica refuses the load: the upload is stored but not activated, an activation is a 502, and the
    version that was active stays active (and loaded where it was)."""
    assert upload(client, tar_gz(adapter_files(), folder="triage-adapter")).json()["active"] is True
    gateway.loader.failing_replica = "http://replica-b"
    refused = upload(client, tar_gz(adapter_files(), folder="triage-adapter"))
    assert refused.status_code == 201
    body = refused.json()
    assert (body["version"], body["activated"], body["active"]) == (2, False, False)
    assert "replica-b" in body["why"] and [load["ok"] for load in body["loads"]] == [True, False]
    activation = client.post("/v1/adapters/triage/activate", json={"version": 2}, headers=ADMIN)
    assert activation.status_code == 502 and activation.json()["error"]["code"] == "adapter_load_failed"
    assert client.get("/v1/adapters/triage", headers=ADMIN).json()["active_version"] == 1
    assert ("unload", "triage@1") not in gateway.loader.calls
    gateway.loader.failing_replica = None
    assert client.post("/v1/adapters/triage/activate", json={"version": 2}, headers=ADMIN).status_code == 200


def test_a_stored_adapter_names_the_model_vllm_serves(
    client: TestClient[Litestar], gateway: Gateway, tmp_path: Path
) -> None:
    """vLLM's filesystem resolver (a replica that starts later) loads an adapter only when its config names
    the model as vLLM knows it: the gateway writes what the generator published, whatever was uploaded."""
    (tmp_path / "name").write_text("/models/SmolLM2-135M-Instruct\n")  # beside the published config.json
    assert upload(client, tar_gz(adapter_files(), folder="triage-adapter")).status_code == 201
    stored = json.loads((gateway.adapter_dir / "triage@1" / "adapter_config.json").read_text())
    assert stored["base_model_name_or_path"] == "/models/SmolLM2-135M-Instruct"
    assert stored["r"] == json.loads(adapter_files()["adapter_config.json"])["r"]  # nothing else changed


def test_an_admin_lists_every_adapter_with_its_versions(client: TestClient[Litestar]) -> None:
    for name in ("triage", "style"):
        assert upload(client, tar_gz(adapter_files(name=name))).status_code == 201
    assert upload(client, tar_gz(adapter_files(name="triage"))).status_code == 201
    body = client.get("/v1/adapters", headers=ADMIN).json()
    listed = body["data"]
    summary = [(item["name"], item["active_version"], [v["version"] for v in item["versions"]]) for item in listed]
    assert summary == [("style", 1, [1]), ("triage", 2, [1, 2])]
    # What each generator replica serves now: a version is loaded there when its served name is listed.
    served_a, down_b = body["replicas"]
    assert served_a["reachable"] and listed[1]["versions"][1]["served_name"] in served_a["models"]
    assert down_b == {"replica": "http://replica-b", "reachable": False, "models": [], "detail": "down"}


def test_uploads_need_an_admin_key(client: TestClient[Litestar], gateway: Gateway) -> None:
    assert upload(client, tar_gz(adapter_files()), headers=USER).status_code == 403
    assert client.get("/v1/adapters", headers=USER).status_code == 403
    assert gateway.tree() == []


def test_an_upload_larger_than_the_in_memory_spool_is_streamed_to_disk_and_stored(tmp_path: Path) -> None:
    """Above 1 MiB the form parser writes the archive to a temporary file, which is read from there."""
    readme = base64.b64encode(random.Random(0).randbytes(2_400_000))  # hardly compresses
    archive = tar_gz({**adapter_files(), "README.md": readme})
    assert len(archive) > 1024 * 1024
    gateway = Gateway(tmp_path)
    with TestClient(gateway.app) as client:
        assert upload(client, archive).status_code == 201
        assert (gateway.adapter_dir / "triage@1" / "README.md").read_bytes() == readme


def test_unpacking_an_upload_does_not_stall_other_requests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unpacking and validating run in a worker thread: while a slow archive is read, the event loop still
    answers (chat, probes)."""
    unpacking = threading.Event()

    def slow_read(archive: Any, limits: Any) -> dict[str, bytes]:
        unpacking.set()
        time.sleep(1.5)
        return read_archive(archive, limits)

    monkeypatch.setattr(lifecycle, "read_archive", slow_read)
    gateway = Gateway(tmp_path)
    with TestClient(gateway.app) as client:
        uploading = threading.Thread(target=upload, args=(client, tar_gz(adapter_files())))
        uploading.start()
        assert unpacking.wait(10)
        started = time.monotonic()
        assert client.get("/healthz").status_code == 200
        waited = time.monotonic() - started
        uploading.join()
    assert waited < 1.0, f"a probe waited {waited:.2f} s behind an upload"


def test_an_archive_above_the_upload_limit_is_refused(tmp_path: Path) -> None:
    gateway = Gateway(tmp_path, adapters__max_upload_bytes=1_000)
    with TestClient(gateway.app) as client:
        refused = upload(client, tar_gz(adapter_files()))
        assert refused.status_code == 413 and "larger than 1000 bytes" in refused.json()["error"]["message"]
        assert gateway.tree() == []


@pytest.mark.parametrize(("scores", "activated"), [((0.8, 0.6), True), ((0.5, 0.6), False), (None, False)])
def test_the_eval_gate_stores_but_does_not_activate_an_adapter_no_better_than_prompting(
    tmp_path: Path, scores: tuple[float, float] | None, activated: bool
) -> None:
    gateway = Gateway(tmp_path, adapters__require_eval_win=True)
    evaluation = {} if scores is None else {"adapter_accuracy": scores[0], "few_shot_accuracy": scores[1]}
    with TestClient(gateway.app) as client:
        response = upload(client, tar_gz(adapter_files(eval=evaluation)))
        assert response.status_code == 201 and response.json()["activated"] is activated
        assert (gateway.adapter_dir / "triage@1" / "tutorbook.json").is_file()  # stored either way
        assert client.get("/v1/adapters/triage", headers=ADMIN).json()["active_version"] == (1 if activated else None)
        if not activated:
            assert "few-shot" in response.json()["gate"] or "no adapter_accuracy" in response.json()["gate"]
