"""Sentence embeddings with ONNX Runtime: the same vectors as sentence-transformers, faster per query
(measured by `make bench-retrieval`: docs/benchmarks.md).

The model folder's transformer is exported once with ``torch.onnx`` into a cache (written to a temporary
file, then renamed); later starts load the cached file. ``int8`` quantizes the weights of its matrix
multiplications per channel (dynamic quantization, once, cached beside it): about twice the throughput
on CPU, with retrieval quality within 0.01 of fp32 (``make bench-retrieval`` and ``make eval-retrieval``
measure both). Pooling (mean or CLS) and the maximum sequence length come from the sentence-transformers
configuration next to the model, as sentence-transformers itself reads them. Texts are tokenized by the
model's own ``tokenizer.json`` through the ``tokenizers`` library (what transformers' fast tokenizer runs),
so a start with the export cached imports neither transformers nor torch: under load, those imports once
held a retriever restart for minutes. A model folder without ``tokenizer.json`` uses transformers.
"""

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

log = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
BATCH = 4  # texts sorted by length, so batches pad little; measured fastest on 2 CPU cores (4 to 64 tried)
Precision = Literal["fp32", "int8"]


class OnnxEmbedderError(RuntimeError):
    """The model folder cannot be used with the ONNX backend (say why; the torch backend still works)."""


def folder_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors", "pytorch_model.bin"):
        path = folder / name
        if path.is_file():
            digest.update(name.encode())
            digest.update(str(path.stat().st_size).encode())
            with path.open("rb") as handle:
                digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


def pooling_mode(folder: Path) -> str:
    config_path = folder / "1_Pooling" / "config.json"
    if not config_path.is_file():
        return "mean"
    config = json.loads(config_path.read_text())
    if config.get("pooling_mode_mean_tokens"):
        return "mean"
    if config.get("pooling_mode_cls_token"):
        return "cls"
    raise OnnxEmbedderError(f"unsupported pooling in {config_path}; use TUTORBOOK_RETRIEVER_EMBEDDING__BACKEND=torch")


def max_sequence_length(folder: Path) -> int:
    config_path = folder / "sentence_bert_config.json"
    if config_path.is_file():
        return int(json.loads(config_path.read_text()).get("max_seq_length", 512))
    return 512


def export_onnx(folder: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModel.from_pretrained(str(folder)).eval()
    sample = tokenizer(["an example sentence"], return_tensors="pt")
    names = [name for name in INPUTS if name in sample]

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            return self.model(**dict(zip(names, tensors, strict=True))).last_hidden_state

    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(descriptor)
    try:
        axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "last_hidden_state"]}
        torch.onnx.export(
            LastHiddenState(), tuple(sample[name] for name in names), temporary, input_names=names,
            output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False,
        )  # fmt: skip
        Path(temporary).replace(target)
    finally:
        Path(temporary).unlink(missing_ok=True)


def activation_products(model_path: Path) -> list[str]:
    """MatMul nodes that multiply two activations (attention's scores and mixing), not a weight."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    weights = {initializer.name for initializer in graph.initializer}
    return [node.name for node in graph.node if node.op_type == "MatMul" and not weights.intersection(node.input)]


def quantize_int8(source: Path, target: Path) -> None:
    """Weights of the matrix multiplications to int8, per channel; attention's activation products stay
    fp32 (quantizing them too cost 0.02 recall on E-Manual S10, keeping them costs almost no speed)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    descriptor, temporary = tempfile.mkstemp(dir=target.parent, suffix=".onnx.tmp")
    os.close(descriptor)
    try:
        quantize_dynamic(
            str(source),
            temporary,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=activation_products(source),
        )
        Path(temporary).replace(target)
    finally:
        Path(temporary).unlink(missing_ok=True)


def cached_model(folder: Path, cache_dir: Path, precision: Precision) -> Path:
    """The exported (and, for int8, quantized) model in the cache, made on first use."""
    exported = cache_dir / f"{folder.name}-{folder_digest(folder)}.onnx"
    if not exported.is_file():
        export_onnx(folder, exported)
    if precision == "fp32":
        return exported
    quantized = exported.with_suffix(".int8w.onnx")
    if not quantized.is_file():
        quantize_int8(exported, quantized)
    return quantized


Tokenize = Any  # texts -> {"input_ids", "attention_mask", "token_type_ids"}: int arrays, padded to the longest


def open_tokenizer(folder: Path, max_length: int) -> Tokenize:
    """Padding to the batch's longest text and truncation at ``max_length``, as sentence-transformers asks
    transformers' tokenizer for them."""
    if not (folder / "tokenizer.json").is_file():
        from transformers import AutoTokenizer

        slow = AutoTokenizer.from_pretrained(str(folder))
        return lambda texts: slow(texts, padding=True, truncation=True, max_length=max_length, return_tensors="np")
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(max_length)
    pad_token = special_token(folder, "pad_token") or "[PAD]"
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id(pad_token) or 0, pad_token=pad_token)

    def tokenize(texts: Sequence[str]) -> dict[str, Any]:
        encodings = tokenizer.encode_batch(list(texts))
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }

    return tokenize


def special_token(folder: Path, name: str) -> str | None:
    path = folder / "special_tokens_map.json"
    token = json.loads(path.read_text()).get(name) if path.is_file() else None
    return token.get("content") if isinstance(token, dict) else token


class OnnxEmbedder:
    def __init__(self, model_folder: str, cache_dir: Path, threads: int = 0, precision: Precision = "fp32") -> None:
        started = time.perf_counter()
        import onnxruntime

        imported = time.perf_counter()
        folder = Path(model_folder)
        if not (folder / "config.json").is_file():
            raise OnnxEmbedderError(f"{folder} is not a local model folder; the ONNX backend needs one")
        onnx_path = cached_model(folder, cache_dir, precision)
        cached = time.perf_counter()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        self._session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._inputs = {item.name for item in self._session.get_inputs()}
        session = time.perf_counter()
        self._max_length = max_sequence_length(folder)
        self._tokenizer = open_tokenizer(folder, self._max_length)
        # a restart once took 300 s in this constructor (CI, under load): say where, next time
        log.info("onnx embedder opened", extra={
            "import_seconds": round(imported - started, 2), "model_file_seconds": round(cached - imported, 2),
            "session_seconds": round(session - cached, 2), "tokenizer_seconds": round(time.perf_counter() - session, 2),
        })  # fmt: skip
        self._pooling = pooling_mode(folder)
        self._dimension = int(json.loads((folder / "config.json").read_text())["hidden_size"])

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        # Batches of similar length pad less (sentence-transformers sorts the same way).
        order = sorted(range(len(texts)), key=lambda index: -len(texts[index]))
        vectors: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            for index, vector in zip(batch, self._embed_batch([texts[i] for i in batch]), strict=True):
                vectors[index] = vector
        return vectors

    def _embed_batch(self, texts: list[str]) -> list[list[float]]:
        encoded = self._tokenizer(texts)
        feed = {name: encoded[name].astype(np.int64) for name in self._inputs}
        hidden = self._session.run(None, feed)[0]
        if self._pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = encoded["attention_mask"][..., None].astype(hidden.dtype)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        pooled = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return [[float(value) for value in row] for row in pooled]
