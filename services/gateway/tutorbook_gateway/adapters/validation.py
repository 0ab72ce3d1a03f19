"""Validating an adapter before anything is stored: its files, its LoRA config against the generator's
limits, its tensors against the served base model's layer shapes, and its card.

A name is no proof: PEFT records whatever path the adapter was trained from, so the tensors themselves
are checked against the base model's architecture (read from its ``config.json``).
"""

import json
import re
import struct
from dataclasses import dataclass
from typing import Any

from tutorbook_adapter_format.card import CARD_FILE, AdapterCard, CardError, parse_card
from tutorbook_adapter_format.layout import LORA_CONFIG_FILE
from tutorbook_service.errors import BadRequestError

CONFIG_FILE = LORA_CONFIG_FILE
WEIGHTS_FILE = "adapter_model.safetensors"
PICKLED = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
ALLOWED_EXTRA = (".md", ".txt", ".json")
TENSOR = re.compile(
    r"^base_model\.model\.(?:model\.)?layers\.(?P<layer>\d+)\.(?:self_attn|mlp)\.(?P<module>\w+)\.lora_(?P<part>[AB])\.weight$"
)


class AdapterRefusedError(BadRequestError):
    code = "invalid_adapter"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, param="file")
        self.reason = reason  # a fixed word for metrics


@dataclass(frozen=True)
class BaseModelShape:
    """In and out features of every LoRA-able projection of a Llama-like decoder, from its config.json."""

    layers: int
    modules: dict[str, tuple[int, int]]  # module name -> (in_features, out_features)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "BaseModelShape":
        hidden = int(config["hidden_size"])
        heads = int(config["num_attention_heads"])
        kv_heads = int(config.get("num_key_value_heads") or heads)
        head_dim = int(config.get("head_dim") or hidden // heads)
        intermediate = int(config["intermediate_size"])
        return cls(
            layers=int(config["num_hidden_layers"]),
            modules={
                "q_proj": (hidden, heads * head_dim),
                "k_proj": (hidden, kv_heads * head_dim),
                "v_proj": (hidden, kv_heads * head_dim),
                "o_proj": (heads * head_dim, hidden),
                "gate_proj": (hidden, intermediate),
                "up_proj": (hidden, intermediate),
                "down_proj": (intermediate, hidden),
            },
        )


@dataclass(frozen=True)
class ValidatedAdapter:
    card: AdapterCard
    files: dict[str, bytes]
    rank: int


def safetensors_header(data: bytes) -> dict[str, Any]:
    """The JSON header of a safetensors file (8 bytes of length, then JSON): names, dtypes, shapes, offsets."""
    if len(data) < 8:
        raise AdapterRefusedError(f"{WEIGHTS_FILE} is not a safetensors file (too short)", "weights")
    (length,) = struct.unpack("<Q", data[:8])
    if length > len(data) - 8 or length > 100_000_000:
        raise AdapterRefusedError(f"{WEIGHTS_FILE} is not a safetensors file (bad header length)", "weights")
    try:
        header = json.loads(data[8 : 8 + length])
    except ValueError as exc:
        raise AdapterRefusedError(f"{WEIGHTS_FILE} is not a safetensors file (header is not JSON)", "weights") from exc
    if not isinstance(header, dict):
        raise AdapterRefusedError(f"{WEIGHTS_FILE} is not a safetensors file (header is not an object)", "weights")
    body = len(data) - 8 - length
    for name, tensor in header.items():
        if name != "__metadata__":
            check_tensor_entry(name, tensor, body)
    return header


def is_int_list(value: Any, length: int | None = None) -> bool:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        return False
    return all(isinstance(item, int) and not isinstance(item, bool) for item in value)


def check_tensor_entry(name: str, tensor: Any, body: int) -> None:
    """A header entry with the types safetensors gives it: offsets inside the file, a shape of integers."""
    if not isinstance(tensor, dict) or not is_int_list(tensor.get("data_offsets"), 2):
        raise AdapterRefusedError(f"{WEIGHTS_FILE}: tensor {name!r} has no valid data_offsets", "weights")
    if not is_int_list(tensor.get("shape")):
        raise AdapterRefusedError(f"{WEIGHTS_FILE}: tensor {name!r} has no valid shape", "weights")
    start, end = tensor["data_offsets"]
    if not 0 <= start <= end <= body:
        raise AdapterRefusedError(f"{WEIGHTS_FILE}: tensor {name!r} points outside the file", "weights")


def check_files(files: dict[str, bytes]) -> None:
    pickled = sorted(name for name in files if name.lower().endswith(PICKLED))
    if pickled:
        raise AdapterRefusedError(
            f"pickled weights are refused ({', '.join(pickled)}): save the adapter with safetensors", "pickle"
        )
    for required in (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE):
        if required not in files:
            raise AdapterRefusedError(f"the archive has no {required}", "missing_file")
    unexpected = sorted(
        name for name in files if name not in (CONFIG_FILE, WEIGHTS_FILE) and not name.endswith(ALLOWED_EXTRA)
    )
    if unexpected:
        raise AdapterRefusedError(f"unexpected files in the archive: {', '.join(unexpected)}", "unexpected_file")


def check_config(raw: bytes, shape: BaseModelShape, max_rank: int) -> tuple[int, set[str]]:
    """The LoRA rank and target modules, once they are known to fit."""
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise AdapterRefusedError(f"{CONFIG_FILE} is not valid JSON: {exc}", "config") from exc
    if not isinstance(config, dict) or str(config.get("peft_type", "")).upper() != "LORA":
        raise AdapterRefusedError(f"{CONFIG_FILE} is not a LoRA config (peft_type must be LORA)", "config")
    rank = config.get("r")
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise AdapterRefusedError(f"{CONFIG_FILE}: r must be a positive integer", "config")
    if rank > max_rank:
        raise AdapterRefusedError(f"LoRA rank {rank} is above the generator's maximum {max_rank}", "rank")
    ranks = config.get("rank_pattern") or {}
    if not isinstance(ranks, dict) or not is_int_list(list(ranks.values())):
        raise AdapterRefusedError(f"{CONFIG_FILE}: rank_pattern must map module names to integers", "config")
    if any(value > max_rank for value in ranks.values()):
        raise AdapterRefusedError(f"a rank in rank_pattern is above the generator's maximum {max_rank}", "rank")
    targets = config.get("target_modules")
    if not (isinstance(targets, str) or (isinstance(targets, list) and all(isinstance(t, str) for t in targets))):
        raise AdapterRefusedError(f"{CONFIG_FILE}: target_modules must be a name or a list of names", "config")
    names = {targets} if isinstance(targets, str) else set(targets)
    short = {name.rsplit(".", 1)[-1] for name in names}
    unknown = sorted(short - set(shape.modules))
    if not short or unknown:
        raise AdapterRefusedError(
            f"target modules {unknown or '(none)'} do not exist in the base model "
            f"(it has {', '.join(sorted(shape.modules))})",
            "target_modules",
        )
    return rank, short


def check_tensors(header: dict[str, Any], shape: BaseModelShape, rank: int, targets: set[str]) -> None:
    tensors = {name: tensor for name, tensor in header.items() if name != "__metadata__"}
    if not tensors:
        raise AdapterRefusedError(f"{WEIGHTS_FILE} holds no tensors", "weights")
    for name, tensor in tensors.items():
        match = TENSOR.match(name)
        if match is None:
            raise AdapterRefusedError(
                f"{WEIGHTS_FILE}: tensor {name!r} is not a LoRA weight of a decoder layer", "shape"
            )
        layer, module, part = int(match["layer"]), match["module"], match["part"]
        if module not in targets or layer >= shape.layers:
            raise AdapterRefusedError(
                f"{WEIGHTS_FILE}: tensor {name!r} is for a module or layer the base model does not have "
                f"({shape.layers} layers; targets {sorted(targets)})",
                "shape",
            )
        in_features, out_features = shape.modules[module]
        found = tensor.get("shape")
        width = found[0] if part == "A" and found else found[1] if found and len(found) == 2 else None
        expected = [width, in_features] if part == "A" else [out_features, width]
        if not found or len(found) != 2 or found != expected or (width is not None and width > rank):
            needed = f"[r, {in_features}]" if part == "A" else f"[{out_features}, r]"
            raise AdapterRefusedError(
                f"{WEIGHTS_FILE}: tensor {name!r} has shape {found}, but the base model's {module} needs "
                f"{needed} with r <= {rank}",
                "shape",
            )


def validate_adapter(
    files: dict[str, bytes], shape: BaseModelShape, max_rank: int, base_model: str
) -> ValidatedAdapter:
    check_files(files)
    rank, targets = check_config(files[CONFIG_FILE], shape, max_rank)
    check_tensors(safetensors_header(files[WEIGHTS_FILE]), shape, rank, targets)
    try:
        card = parse_card(files[CARD_FILE])
    except CardError as exc:
        raise AdapterRefusedError(str(exc), "card") from exc
    if card.base_model != base_model:
        raise AdapterRefusedError(
            f"{CARD_FILE}: base_model is {card.base_model!r}, but this generator serves {base_model!r}", "card"
        )
    return ValidatedAdapter(card, files, rank)
