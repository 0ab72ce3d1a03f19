"""``tutorbook-compare-banking77``: does a LoRA adapter beat few-shot prompting of the default base model
on a real intent task? Trains on a subset of banking77 (read where it lies, ``../shared/eval-data``;
nothing is copied into the project), then scores the adapter and few-shot prompting on the same
held-out test questions.
"""

import argparse
import csv
import random
import tempfile
import time
from pathlib import Path

from tutorbook_common.adapter_card import classifier_messages
from tutorbook_training.data import Dataset, Example
from tutorbook_training.evaluate import evaluate, pick_shots
from tutorbook_training.model import default_base_model
from tutorbook_training.train import TrainOptions, train

REPO_ROOT = Path(__file__).resolve().parents[3]


def read_split(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row["text"], row["category"]) for row in csv.DictReader(handle)]


def subset(rows: list[tuple[str, str]], labels: list[str], per_label: int, seed: int) -> Dataset:
    rng = random.Random(seed)
    examples = []
    for label in labels:
        texts = [text for text, category in rows if category == label]
        for text in rng.sample(texts, min(per_label, len(texts))):
            examples.append(Example(classifier_messages(labels, text), label, label, text))
    rng.shuffle(examples)
    return Dataset("classifier", examples, labels, "")


def main() -> None:
    parser = argparse.ArgumentParser(prog="tutorbook-compare-banking77", description=__doc__)
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "eval-data" / "banking77")
    parser.add_argument("--intents", type=int, default=20, help="how many of the 77 intents (a random subset)")
    parser.add_argument("--train-per-intent", type=int, default=15)
    parser.add_argument("--test-per-intent", type=int, default=5)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train_rows, test_rows = read_split(args.data / "train.csv"), read_split(args.data / "test.csv")
    intents = sorted(random.Random(args.seed).sample(sorted({label for _, label in train_rows}), args.intents))
    training = subset(train_rows, intents, args.train_per_intent, args.seed)
    heldout = subset(test_rows, intents, args.test_per_intent, args.seed)
    base = default_base_model()
    sizes = f"{len(training.examples)} training and {len(heldout.examples)} test questions"
    print(f"banking77: {len(intents)} intents, {sizes}")
    started = time.perf_counter()
    options = TrainOptions(
        epochs=args.epochs, learning_rate=args.learning_rate, validation_split=0.0, seed=args.seed, max_length=384
    )
    model, figures = train(training, options, base)
    trained = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="tutorbook-banking77-") as folder:
        model.save_pretrained(folder, safe_serialization=True)
        shots = pick_shots(training, per_label=1, total=0, seed=args.seed)
        scores = evaluate(Path(folder), heldout, shots, base)
    print(f"trained in {trained:.0f} s ({figures['steps']:.0f} steps, final loss {figures['train_loss']:.3f})")
    print(f"accuracy on {scores.examples} held-out questions:")
    print(f"  LoRA adapter (rank {options.rank})           {scores.adapter.quality:.3f}")
    print(f"  few-shot prompting ({scores.shots} shots, 1 per intent) {scores.few_shot.quality:.3f}")


if __name__ == "__main__":
    main()
