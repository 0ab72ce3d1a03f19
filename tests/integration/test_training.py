"""Training a LoRA adapter with PEFT on the real base model, for a few steps: the output folder is what
the gateway accepts (its own validator checks it), with a complete card."""

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.conftest import SAMPLES
from tutorbook_adapter_format.card import parse_card
from tutorbook_gateway.adapters.validation import BaseModelShape, validate_adapter
from tutorbook_training.data import DataError, load_dataset, route_examples, split, write_card
from tutorbook_training.model import default_base_model
from tutorbook_training.train import TrainOptions, encode, lora_state, train

TRIAGE = SAMPLES / "support_triage" / "train.jsonl"


def test_classifier_pairs_become_the_served_prompt(tmp_path: Path) -> None:
    dataset = load_dataset(TRIAGE)
    assert dataset.task_type == "classifier" and dataset.labels == [
        "account",
        "billing",
        "returns",
        "shipping",
        "technical",
    ]
    first = dataset.examples[0]
    assert first.messages[0]["role"] == "system" and "billing" in first.messages[0]["content"]
    assert first.answer == "shipping" and route_examples(dataset)[0] == first.text
    training, validation = split(dataset.examples, 0.1, seed=0)
    assert (len(training), len(validation)) == (72, 8) and split(dataset.examples, 0.1, seed=0)[1] == validation
    chat = tmp_path / "chat.jsonl"
    chat.write_text(
        json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"}]})
    )
    assert load_dataset(chat).task_type == "generative"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ('{"text": "a", "label": "x"}\n{"text": "b", "label": "x"}', "at least two labels"),
        ('{"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "again"}]}', "assistant"),
        ("", "no examples"),
    ],
)
def test_malformed_training_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_dataset(path)


def test_a_few_steps_make_an_adapter_the_gateway_accepts(tmp_path: Path) -> None:
    base = default_base_model()
    dataset = load_dataset(TRIAGE)
    options = TrainOptions(rank=4, alpha=8, epochs=0.2, batch_size=8, max_length=128, seed=1)
    model, figures = train(dataset, options, base)
    model.save_pretrained(tmp_path, safe_serialization=True)
    write_card(dataset, "support-triage", "smollm2-135m-instruct", tmp_path, figures)
    files = {path.name: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()}
    shape = BaseModelShape.from_config(json.loads((base / "config.json").read_text()))
    accepted = validate_adapter(files, shape, max_rank=16, base_model="smollm2-135m-instruct")
    assert accepted.rank == 4 and accepted.card.task_type == "classifier"
    card = parse_card(files["tutorbook.json"])
    assert card.training_data_sha256 and card.route_examples and "train_loss" in card.eval["training"]


def test_an_earlier_epoch_kept_from_one_run_is_the_adapter_a_shorter_run_trains() -> None:
    """What the rollout tests rely on to train their active and longer-trained versions in one run."""
    base = default_base_model()
    dataset = dataclasses.replace(load_dataset(TRIAGE), examples=load_dataset(TRIAGE).examples[:20])
    options = TrainOptions(rank=4, alpha=8, epochs=2.0, batch_size=8, max_length=128, seed=1)
    kept: dict[int, dict[str, torch.Tensor]] = {}

    def keep(epoch: int, model: Any, figures: dict[str, float]) -> None:
        kept[epoch] = lora_state(model)

    train(dataset, options, base, keep)
    shorter, figures = train(dataset, dataclasses.replace(options, epochs=1.0), base)
    assert set(kept) == {1, 2} and figures["epochs"] == 1.0
    assert kept[1].keys() == lora_state(shorter).keys()
    assert all(torch.equal(kept[1][name], value) for name, value in lora_state(shorter).items())
    assert not all(torch.equal(kept[2][name], value) for name, value in lora_state(shorter).items())


def test_the_prompt_is_masked_from_the_loss() -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(default_base_model())
    example = load_dataset(TRIAGE).examples[0]
    ids, labels = encode(tokenizer, example, max_length=512)
    answer = [token for token in labels if token != -100]
    assert len(ids) == len(labels) and str(tokenizer.decode(answer)).strip().startswith("shipping")


def test_qlora_is_refused_clearly_without_a_gpu(tmp_path: Path) -> None:
    import subprocess
    import sys

    command = [
        sys.executable,
        "-m",
        "tutorbook_training.train",
        str(TRIAGE),
        "--name",
        "x",
        "--output",
        str(tmp_path),
        "--qlora",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "needs a CUDA GPU" in result.stderr
    assert not any(tmp_path.iterdir())


def test_a_classifier_prompt_is_never_cut_to_fit() -> None:
    """Its start is the label list: a --max-length under the longest prompt is refused, saying the length
    that fits; without one, the longest example decides."""
    from transformers import AutoTokenizer

    from tutorbook_training.train import length_limit

    tokenizer = AutoTokenizer.from_pretrained(default_base_model())
    dataset = load_dataset(SAMPLES / "support_intents" / "train.jsonl")  # 24 labels in every prompt
    longest = max(len(encode(tokenizer, example, max_length=4096)[0]) for example in dataset.examples)
    assert length_limit(tokenizer, dataset, None) == longest > 128
    with pytest.raises(DataError, match=f"--max-length {longest} or more"):
        length_limit(tokenizer, dataset, 128)
