"""The classifier adapter the mix asks: the demo adapter when it has been built (``make demo-adapter``),
else a tiny one trained here in a few steps (about a minute on CPU, kept for the next run)."""

import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def train_tiny(
    samples: Path,
    folder: Path,
    name: str,
    epochs: float = 0.5,
    shuffle_seed: int | None = None,
    earlier: Mapping[int, Path] | None = None,
) -> None:
    """Support triage, trained for a few steps (about 20 s at half an epoch) to answer with its labels'
    codes, as ``tutorbook-train-adapter`` does by default: enough to answer with a department. With
    ``shuffle_seed``, on the same texts with their labels shuffled among them (a candidate that learned
    nothing true: what a rollout must roll back). ``earlier`` maps an epoch to a folder where the adapter
    as that epoch left it is written too (the same run's earlier version, without training it again)."""
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

    def write(target: Path, model: Any, figures: dict[str, float]) -> None:
        target.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(target, safe_serialization=True)
        write_card(dataset, name, "smollm2-135m-instruct", target, figures)

    def after_epoch(epoch: int, model: Any, figures: dict[str, float]) -> None:
        if earlier and epoch in earlier:
            write(earlier[epoch], model, figures)

    options = TrainOptions(rank=8, epochs=epochs, batch_size=8, max_length=160, learning_rate=1e-3, seed=0)
    write(folder, *train(dataset, options, base, after_epoch))


@dataclass(frozen=True)
class RolloutVersions:
    """Three versions of one support-triage adapter for a rollout: the active one, a candidate trained on the
    same data for more epochs, and one trained on the same texts with shuffled labels."""

    active: Path
    more_epochs: Path
    shuffled: Path

    @classmethod
    def under(cls, folder: Path) -> "RolloutVersions":
        return cls(folder / "active", folder / "more-epochs", folder / "shuffled")


def train_rollout_versions(samples: Path, folder: Path, name: str) -> RolloutVersions:
    """Two runs (about five minutes on 2 CPU cores): four epochs, whose third is kept as the active version,
    and three on shuffled labels. Measured with the training tools on support triage's 40 test and 80
    training texts: 3 epochs answer 77.5% of the test texts right, 4 epochs 92.5%, and the two give the
    same label on 107 of the 120."""
    versions = RolloutVersions.under(folder)
    train_tiny(samples, versions.more_epochs, name, epochs=4.0, earlier={3: versions.active})
    train_tiny(samples, versions.shuffled, name, epochs=3.0, shuffle_seed=7)
    return versions


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
