"""The tutors the classifier benchmark serves (:mod:`tutorbook_evals.bench_tutor`): for each label set, an
adapter trained to answer by code and one trained on whole labels, each for one step (the answer's time
does not depend on what was learned), and an embedding classifier for the throughput comparison."""

from dataclasses import dataclass
from pathlib import Path

from tutorbook_evals.compare.datasets import ClassificationSet, Subset, banking77, builtin_classification

SAMPLES = Path(__file__).resolve().parents[3] / "samples"
FEW = 4  # training examples: one step of this batch


@dataclass(frozen=True)
class Tutor:
    """One label set's adapters: ``archives`` by answer kind ("code", "label"), its labels and codes,
    and questions to ask (the held-out ones first; any text times the same: the adapters learned little)."""

    name: str
    labels: list[str]
    codes: list[str]
    archives: dict[str, bytes]
    questions: list[str]


def label_sets(eval_data: Path | None) -> list[ClassificationSet]:
    """5, 24 and 77 labels: support triage and support intents (samples), banking77 (the evaluation data)."""
    if eval_data is None:
        raise SystemExit("banking77 not found: pass --eval-data (../shared/eval-data)")
    small = builtin_classification("support-triage", SAMPLES, None, Subset())
    intents = builtin_classification("support-intents", SAMPLES, None, Subset())
    return [small, intents, banking77(eval_data / "banking77", Subset(train_per_label=1, test_per_label=1))]


def train_one(dataset: ClassificationSet, kind: str, name: str, folder: Path) -> tuple[bytes, list[str]]:
    """An adapter answering ``kind`` ("code" or "label"), trained for one step; its archive and codes."""
    from tutorbook_training.data import classifier_dataset, write_card
    from tutorbook_training.label_scoring import with_codes
    from tutorbook_training.model import default_base_model
    from tutorbook_training.train import TrainOptions, train
    from tutorbook_training.upload import pack

    base = default_base_model()
    data = classifier_dataset(dataset.labels, [(e.text, e.label) for e in dataset.train[:FEW]])
    data = with_codes(data, base) if kind == "code" else data
    options = TrainOptions(rank=8, epochs=1, batch_size=FEW, validation_split=0)
    model, figures = train(data, options, base)
    model.save_pretrained(folder, safe_serialization=True)
    write_card(data, name, "smollm2-135m-instruct", folder, figures, routed=False)
    return pack(folder), data.codes


def train_tutors(sets: list[ClassificationSet], root: Path) -> list[Tutor]:
    tutors = []
    for dataset in sets:
        name = f"bench-{len(dataset.labels)}"
        archives: dict[str, bytes] = {}
        codes: list[str] = []
        for kind in ("code", "label"):
            print(f"training {name} ({kind}s, one step) ...", flush=True)
            archives[kind], trained = train_one(dataset, kind, f"{name}-{kind}s", root / f"{name}-{kind}s")
            codes = trained or codes
        questions = [example.text for example in [*dataset.test, *dataset.train[FEW:]]]
        tutors.append(Tutor(name, dataset.labels, codes, archives, questions))
    return tutors


def train_embedding_tutor(dataset: ClassificationSet, folder: Path) -> bytes:
    """The embedding classifier of the same labels (the retriever's embeddings, no generator)."""
    from tutorbook_training.data import classifier_dataset
    from tutorbook_training.embedding_classifier import train_embedding_classifier, write_embedding_classifier
    from tutorbook_training.upload import pack

    data = classifier_dataset(dataset.labels, [(e.text, e.label) for e in dataset.train])
    classifier, figures = train_embedding_classifier(data, seed=0)
    write_embedding_classifier(data, f"bench-{len(dataset.labels)}-embedding", classifier, folder, figures)
    return pack(folder)
