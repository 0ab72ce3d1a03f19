"""The classifier adapter the mix asks: the demo adapter when it has been built (``make demo-adapter``),
else a tiny one trained here in a few steps (about a minute on CPU, kept for the next run)."""

import random
from pathlib import Path

import httpx

DEMO_ADAPTER = Path("data/adapters-built/support-triage")
TINY_ADAPTER = Path("data/load/tiny-triage")
TINY_NAME = "load-triage"


def adapter_folder(samples: Path) -> Path:
    if (DEMO_ADAPTER / "adapter_config.json").exists():
        return DEMO_ADAPTER
    if not (TINY_ADAPTER / "adapter_config.json").exists():
        train_tiny(samples, TINY_ADAPTER, TINY_NAME)
    return TINY_ADAPTER


def train_tiny(samples: Path, folder: Path, name: str, epochs: float = 0.5, shuffle_seed: int | None = None) -> None:
    """Support triage, trained for a few steps (about 20 s at half an epoch) to answer with its labels'
    codes, as ``tutorbook-train-adapter`` does by default: enough to answer with a department. With
    ``shuffle_seed``, on the same texts with their labels shuffled among them (a candidate that learned
    nothing true: what a rollout must roll back)."""
    from tutorbook_training.data import classifier_dataset, load_dataset, write_card
    from tutorbook_training.label_scoring import with_codes
    from tutorbook_training.model import default_base_model
    from tutorbook_training.train import TrainOptions, train

    base = default_base_model()
    dataset = load_dataset(samples / "support_triage" / "train.jsonl")
    if shuffle_seed is not None:
        labels = [str(example.label) for example in dataset.examples]
        random.Random(shuffle_seed).shuffle(labels)
        pairs = [(str(example.text), label) for example, label in zip(dataset.examples, labels, strict=True)]
        dataset = classifier_dataset(dataset.labels, pairs)  # not the file the card would name
    dataset = with_codes(dataset, base)
    options = TrainOptions(rank=8, epochs=epochs, batch_size=8, max_length=160, learning_rate=1e-3, seed=0)
    model, figures = train(dataset, options, base)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    write_card(dataset, name, "smollm2-135m-instruct", folder, figures)


def upload_adapter(gateway_url: str, admin_key: str, folder: Path) -> str:
    """Upload and hot-load it; returns the name it is served under."""
    from tutorbook_training.upload import pack

    response = httpx.post(
        f"{gateway_url}/v1/adapters",
        files={"file": ("adapter.tar.gz", pack(folder))},
        headers={"authorization": f"Bearer {admin_key}"},
        timeout=300,
    )
    response.raise_for_status()
    name: str = response.json()["name"]
    return name
