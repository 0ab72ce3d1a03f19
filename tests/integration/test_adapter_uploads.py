"""Adapter uploads through the HTTP API: versions, activation (rollback), deletion, hot-loading on every
replica, the router learning route examples; and every refusal, each leaving the store unchanged."""

import base64
import io
import json
import random
import struct
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.integration.adapter_archives import (
    SMOLLM2_CONFIG,
    adapter_files,
    lora_tensors,
    tar_gz,
    with_config,
    zip_bytes,
)
from tests.unit.fakes import ADMIN, USER, WARRANTY, FakeGenerator, FakeRetriever
from tutorbook_gateway.adapters import lifecycle
from tutorbook_gateway.adapters.archive import read_archive
from tutorbook_gateway.adapters.loading import LoadResult
from tutorbook_gateway.app import create_app
from tutorbook_gateway.settings import GatewaySettings


class FakeLoader:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.failing_replica: str | None = None  # this replica refuses every load

    async def load(self, lora_name: str, lora_path: str) -> list[LoadResult]:
        self.calls.append(("load", lora_name))
        assert (Path(lora_path) / "adapter_model.safetensors").is_file()  # complete before it is loaded
        return [
            LoadResult(replica, replica != self.failing_replica, "" if replica != self.failing_replica else "HTTP 500")
            for replica in ("http://replica-a", "http://replica-b")
        ]

    async def unload(self, lora_name: str) -> list[LoadResult]:
        self.calls.append(("unload", lora_name))
        return [LoadResult("http://replica-a", True), LoadResult("http://replica-b", True)]


class Gateway:
    def __init__(self, tmp_path: Path, **overrides: Any) -> None:
        config = tmp_path / "base-config.json"
        config.write_text(json.dumps(SMOLLM2_CONFIG))
        self.adapter_dir = tmp_path / "adapters"
        self.retriever = FakeRetriever([WARRANTY])
        self.loader = FakeLoader()
        settings = GatewaySettings(
            api_keys="user-key-for-tests-0001", admin_keys="admin-key-for-tests-0001", data_dir=tmp_path,
            base_model_config=config,
            adapter_unload_grace_seconds=0, **overrides,
        )  # fmt: skip
        self.app = create_app(settings, retriever=self.retriever, generator=FakeGenerator(), loader=self.loader)

    def tree(self) -> list[str]:
        """Everything stored (the pointer files' contents included)."""
        if not self.adapter_dir.exists():
            return []
        entries = []
        for path in sorted(self.adapter_dir.rglob("*")):
            relative = str(path.relative_to(self.adapter_dir))
            entries.append(f"{relative}={path.read_text()}" if path.parent.name == ".active" else relative)
        return [entry for entry in entries if not entry.startswith((".incoming", ".trash"))]


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    return Gateway(tmp_path)


@pytest.fixture
def client(gateway: Gateway) -> Iterator[TestClient[Litestar]]:
    with TestClient(gateway.app) as test_client:
        yield test_client


def upload(
    client: TestClient[Litestar], archive: bytes, headers: dict[str, str] = ADMIN, name: str = "a.tar.gz"
) -> Any:
    return client.post("/v1/adapters", files={"file": (name, archive, "application/octet-stream")}, headers=headers)


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
    listed = client.get("/v1/adapters", headers=ADMIN).json()["data"]
    summary = [(item["name"], item["active_version"], [v["version"] for v in item["versions"]]) for item in listed]
    assert summary == [("style", 1, [1]), ("triage", 2, [1, 2])]


def test_uploads_need_an_admin_key(client: TestClient[Litestar], gateway: Gateway) -> None:
    assert upload(client, tar_gz(adapter_files()), headers=USER).status_code == 403
    assert client.get("/v1/adapters", headers=USER).status_code == 403
    assert gateway.tree() == []


def tar_with(files: dict[str, bytes], folders: list[str] | None = None, long_name: str = "") -> bytes:
    """A .tar.gz of ``files`` plus empty folders, or plus a member whose name is ``long_name``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT) as archive:
        for name in folders or []:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            archive.addfile(info)
        if long_name:
            archive.addfile(tarfile.TarInfo(long_name), io.BytesIO(b""))
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def safetensors_with_header(case: str) -> bytes:
    """A safetensors file whose JSON header has the wrong types (the kind of file a hand-edit produces)."""
    name = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
    entry = {"dtype": "F32", "shape": [4, 576], "data_offsets": [0, 0]}
    header: Any = {
        "header a list": [name],
        "tensor entry a string": {name: "F32"},
        "shape of strings": {name: {**entry, "shape": ["4", "576"]}},
    }[case]
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw


def spoiled(case: str) -> bytes:
    files = adapter_files()
    if case == "pickled weights":
        return tar_gz({**files, "adapter_model.bin": b"\x80\x04pickle"})
    if case == "no safetensors":
        return tar_gz({k: v for k, v in files.items() if k != "adapter_model.safetensors"})
    if case == "no card":
        return tar_gz({k: v for k, v in files.items() if k != "tutorbook.json"})
    if case == "card without task_type":
        return tar_gz(
            {**files, "tutorbook.json": json.dumps({"name": "x", "base_model": "smollm2-135m-instruct"}).encode()}
        )
    if case == "card for another base model":
        return tar_gz(adapter_files(base_model="llama-3-8b"))
    if case == "classifier without labels":
        return tar_gz(adapter_files(labels=[]))
    if case == "bad adapter name":
        return tar_gz(adapter_files(name="../evil"))
    if case == "not LoRA":
        return tar_gz(with_config(files, peft_type="PREFIX_TUNING"))
    if case == "rank above the maximum":
        return tar_gz(with_config(files, r=64))
    if case == "unknown target module":
        return tar_gz(with_config(files, target_modules=["q_proj", "c_attn"]))
    if case == "tensors of another model":
        return tar_gz({**files, "adapter_model.safetensors": lora_tensors(layers=40)})
    if case == "tensors of another width":
        wrong = lora_tensors(modules=("q_proj", "v_proj", "k_proj"))
        return tar_gz({**with_config(files, target_modules=["q_proj", "v_proj"]), "adapter_model.safetensors": wrong})
    if case == "not safetensors":
        return tar_gz({**files, "adapter_model.safetensors": b"garbage" * 10})
    if case == "absolute path":
        return tar_gz({**files, "/etc/passwd": b"x"})
    if case == "parent path":
        return tar_gz({**files, "../outside.txt": b"x"})
    if case == "symlink":
        return tar_gz(files, links={"link.txt": "/etc/passwd"})
    if case == "two folders":
        return tar_gz({**{f"a/{k}": v for k, v in files.items()}, "b/README.md": b"x"})
    if case == "not an archive":
        return b"just some bytes, not an archive"
    if case == "rank_pattern not a mapping":
        return tar_gz(with_config(files, rank_pattern=["q_proj", 4]))
    if case == "target_modules a number":
        return tar_gz(with_config(files, target_modules=7))
    if case == "folders count as members":
        return tar_with(files, folders=[f"empty-{index}" for index in range(70)])
    if case == "a long name bigger than the limit":  # a GNU long-name header of 3 MB, a few KB compressed
        return tar_with(files, long_name="a" * 3_000_000)
    if case == "a zip of too many entries":
        return zip_bytes({**files, **{f"note-{index}.txt": b"" for index in range(70)}})
    if case in ("header a list", "tensor entry a string", "shape of strings"):
        return tar_gz({**files, "adapter_model.safetensors": safetensors_with_header(case)})
    if case == "zip bomb":
        return zip_bytes({**files, "README.md": b"0" * 3_000_000})
    if case.startswith("pickled weights as "):
        return tar_gz({**files, f"adapter_model{case.rsplit(' ', 1)[1]}": b"\x80\x04pickle"})
    if case == "an image beside the adapter":
        return tar_gz({**files, "loss.png": b"\x89PNG\r\n\x1a\n"})
    if case == "rank_pattern above the maximum":
        return tar_gz(with_config(files, rank_pattern={"q_proj": 64}))
    if case == "a device":
        return tar_with_device(files)
    if case == "a zip whose headers lie about sizes":
        return zip_lying_about_size({**files, "README.md": b"0" * 3_000_000}, "README.md", 10)
    raise AssertionError(case)


def tar_with_device(files: dict[str, bytes]) -> bytes:
    """The adapter's files plus a character device (as /dev/zero would be archived)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        device = tarfile.TarInfo("zero")
        device.type, device.devmajor, device.devminor = tarfile.CHRTYPE, 1, 5
        archive.addfile(device)
    return buffer.getvalue()


def zip_lying_about_size(files: dict[str, bytes], liar: str, claimed: int) -> bytes:
    """A zip whose local and central headers say ``liar`` unpacks to ``claimed`` bytes (it unpacks to far
    more): a reader that trusts headers would let a bomb through."""
    data = bytearray(zip_bytes(files))
    # Local and central headers: their signature, where the name's length is, the name, the unpacked size.
    for signature, length_at, name_at, size_at in ((b"PK\x03\x04", 26, 30, 22), (b"PK\x01\x02", 28, 46, 24)):
        header = data.find(signature)
        while header >= 0:
            (length,) = struct.unpack_from("<H", data, header + length_at)
            if data[header + name_at : header + name_at + length] == liar.encode():
                struct.pack_into("<I", data, header + size_at, claimed)
            header = data.find(signature, header + 4)
    return bytes(data)


REFUSALS = [
    ("pickled weights", "pickled weights are refused"),
    ("no safetensors", "no adapter_model.safetensors"),
    ("no card", "no tutorbook.json"),
    ("card without task_type", "task_type"),
    ("card for another base model", "this generator serves"),
    ("classifier without labels", "at least two labels"),
    ("bad adapter name", "name must be"),
    ("not LoRA", "not a LoRA config"),
    ("rank above the maximum", "rank 64 is above the generator's maximum 16"),
    ("unknown target module", "['c_attn'] do not exist in the base model"),
    ("tensors of another model", "layer the base model does not have"),
    ("tensors of another width", "k_proj"),
    ("not safetensors", "not a safetensors file"),
    ("absolute path", "absolute"),
    ("parent path", "leaves the archive"),
    ("symlink", "link or a device"),
    ("two folders", "top level or in one folder"),
    ("not an archive", "must be a .tar.gz or a .zip"),
    ("zip bomb", "unpacks to more than"),
    ("rank_pattern not a mapping", "rank_pattern must map module names to integers"),
    ("target_modules a number", "target_modules must be a name or a list of names"),
    ("header a list", "header is not an object"),
    ("tensor entry a string", "has no valid data_offsets"),
    ("shape of strings", "has no valid shape"),
    ("folders count as members", "more than 64 members"),
    ("a long name bigger than the limit", "unpacks to more than"),
    ("a zip of too many entries", "more than 64 members"),
    *[(f"pickled weights as {suffix}", "pickled weights are refused") for suffix in (".pt", ".pth", ".pkl", ".ckpt")],
    ("an image beside the adapter", "unexpected files in the archive: loss.png"),
    ("rank_pattern above the maximum", "a rank in rank_pattern is above the generator's maximum 16"),
    ("a device", "link or a device"),
    ("a zip whose headers lie about sizes", "not a readable zip archive"),
]


@pytest.mark.parametrize(("case", "message"), REFUSALS, ids=[case for case, _ in REFUSALS])
def test_every_refusal_says_why_and_stores_nothing(tmp_path: Path, case: str, message: str) -> None:
    gateway = Gateway(tmp_path, adapter_max_unpacked_bytes=2_000_000)
    with TestClient(gateway.app) as client:
        assert upload(client, tar_gz(adapter_files(name="kept"))).status_code == 201
        before = gateway.tree()
        refused = upload(client, spoiled(case))
        assert 400 <= refused.status_code < 500, refused.text
        error = refused.json()["error"]
        assert message in error["message"], error["message"]
        assert gateway.tree() == before
        assert gateway.loader.calls == [("load", "kept@1")]
        metrics = client.get("/metrics").text
        assert 'tutorbook_gateway_adapter_uploads_total{result="refused"} 1.0' in metrics


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
    gateway = Gateway(tmp_path, adapter_max_upload_bytes=1_000)
    with TestClient(gateway.app) as client:
        refused = upload(client, tar_gz(adapter_files()))
        assert refused.status_code == 413 and "larger than 1000 bytes" in refused.json()["error"]["message"]
        assert gateway.tree() == []


@pytest.mark.parametrize(("scores", "activated"), [((0.8, 0.6), True), ((0.5, 0.6), False), (None, False)])
def test_the_eval_gate_stores_but_does_not_activate_an_adapter_no_better_than_prompting(
    tmp_path: Path, scores: tuple[float, float] | None, activated: bool
) -> None:
    gateway = Gateway(tmp_path, adapter_require_eval_win=True)
    evaluation = {} if scores is None else {"adapter_accuracy": scores[0], "few_shot_accuracy": scores[1]}
    with TestClient(gateway.app) as client:
        response = upload(client, tar_gz(adapter_files(eval=evaluation)))
        assert response.status_code == 201 and response.json()["activated"] is activated
        assert (gateway.adapter_dir / "triage@1" / "tutorbook.json").is_file()  # stored either way
        assert client.get("/v1/adapters/triage", headers=ADMIN).json()["active_version"] == (1 if activated else None)
        if not activated:
            assert "few-shot" in response.json()["gate"] or "no adapter_accuracy" in response.json()["gate"]
