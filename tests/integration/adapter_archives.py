"""Adapter archives for the upload tests: a real PEFT-shaped LoRA for SmolLM2-135M (safetensors written
with the safetensors library), its card, and ways to spoil each part."""

import io
import json
import tarfile
import zipfile
from typing import Any

import numpy as np
from safetensors.numpy import save

# SmolLM2-135M-Instruct's architecture (its config.json): what adapters must fit.
SMOLLM2_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "head_dim": 64,
    "num_hidden_layers": 30,
}
OUT = {"q_proj": 576, "v_proj": 192}


def lora_tensors(
    rank: int = 4, modules: tuple[str, ...] = ("q_proj", "v_proj"), layers: int = 30, scale: float = 0.0
) -> bytes:
    """LoRA weights of the right shapes: zeros (the base model's behaviour), or random with ``scale``."""
    generator = np.random.default_rng(0)
    tensors = {}
    for layer in range(layers):
        for module in modules:
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            shapes = {"lora_A": (rank, 576), "lora_B": (OUT.get(module, 576), rank)}
            for part, shape in shapes.items():
                tensors[f"{prefix}.{part}.weight"] = (generator.standard_normal(shape) * scale).astype(np.float32)
    return save(tensors)


def adapter_files(name: str = "triage", scale: float = 0.0, **card: Any) -> dict[str, bytes]:
    config = {
        "peft_type": "LORA",
        "r": 4,
        "lora_alpha": 8,
        "target_modules": ["q_proj", "v_proj"],
        "base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct",
    }
    card_body = {
        "name": name,
        "base_model": "smollm2-135m-instruct",
        "task_type": "classifier",
        "labels": ["billing", "shipping"],
        "route_examples": ["Which department should handle this ticket? I was charged twice."],
        **card,
    }
    return {
        "adapter_config.json": json.dumps(config).encode(),
        "adapter_model.safetensors": lora_tensors(scale=scale),
        "tutorbook.json": json.dumps(card_body).encode(),
    }


def tar_gz(files: dict[str, bytes], folder: str = "", links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}" if folder else name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    return buffer.getvalue()


def zip_bytes(files: dict[str, bytes], folder: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(f"{folder}/{name}" if folder else name, content)
    return buffer.getvalue()


def with_config(files: dict[str, bytes], **changes: Any) -> dict[str, bytes]:
    config = json.loads(files["adapter_config.json"])
    return {**files, "adapter_config.json": json.dumps({**config, **changes}).encode()}
