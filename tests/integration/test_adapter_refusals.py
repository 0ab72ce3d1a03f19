"""Every refusal of an adapter upload says why, in plain words, and leaves the store as it was: archives
that are not archives or hide links, devices, paths out of the folder or lying sizes; pickled weights;
configs, cards and tensors that do not fit the base model."""

import io
import json
import struct
import tarfile
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.integration.adapter_archives import adapter_files, lora_tensors, tar_gz, with_config, zip_bytes
from tests.integration.adapter_gateway import Gateway, upload


def tar_with(files: dict[str, bytes], folders: list[str] | None = None, long_name: str = "") -> bytes:
    """A .tar.gz of ``files`` plus empty folders, or plus a member whose name is ``long_name``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT, compresslevel=1) as archive:
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
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
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
    gateway = Gateway(tmp_path, adapters__max_unpacked_bytes=2_000_000)
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
