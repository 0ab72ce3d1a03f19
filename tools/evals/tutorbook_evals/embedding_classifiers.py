"""``python -m tutorbook_evals.embedding_classifiers`` (``make eval-embedding-classifiers``): the
embedding classifier's accuracy and calibration on held-out texts, before and after the temperature that
cross-validation fits. Trained and scored as ``tutorbook-train-adapter --kind embedding-classifier`` and
the gateway do it: the retriever's embedder at its default settings, each text embedded on its own.
Writes JSON (``data/eval/embedding-classifiers.json``) and prints a Markdown table.

Sets: support triage (5 labels) from the samples; banking77 (20 intents, as ``make eval-tutors``) and
CLINC150 (24 intents) from the evaluation data.
"""

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tutorbook_devstack.bench_report import write_results
from tutorbook_evals.compare.datasets import ClassificationSet, Subset, builtin_classification
from tutorbook_evals.doc_figure_evals import embedding_classifier_calibration
from tutorbook_evals.routing_set import default_eval_data
from tutorbook_evals.tutors import SETS as TUTOR_SETS

if TYPE_CHECKING:
    from tutorbook_retriever.clients.embedder import Embedder

REPO_ROOT = Path(__file__).resolve().parents[3]
RESULT_FILE = Path("data/eval/embedding-classifiers.json")
SETS = {
    "support-triage": TUTOR_SETS["support-triage"],
    "banking77-20": TUTOR_SETS["banking77-20"],
    "clinc150-24": ("clinc150", Subset(labels=24, train_per_label=15, test_per_label=5)),
}


def evaluate_set(dataset: ClassificationSet, embedder: "Embedder", embedder_name: str, seed: int) -> dict[str, Any]:
    """Both classifiers (no temperature, and the fitted one) on the held-out split, and the training time."""
    from tutorbook_training.embedding_classifier import (
        accuracy_and_calibration,
        embedded_as_served,
        fit_calibrated,
        fit_classifier,
    )

    labels = [example.label for example in dataset.train]
    started = time.perf_counter()
    vectors = embedded_as_served(embedder, [example.text for example in dataset.train])
    calibrated, training_figures = fit_calibrated(vectors, labels, embedder_name, dataset.labels, seed)
    train_seconds = time.perf_counter() - started
    held_out = embedded_as_served(embedder, [example.text for example in dataset.test])
    gold = [example.label for example in dataset.test]
    plain = fit_classifier(vectors, labels, embedder_name, dataset.labels)
    figures: dict[str, Any] = {"labels": len(dataset.labels), "train": len(dataset.train), "test": len(dataset.test)}
    for key, classifier in (("plain", plain), ("fitted", calibrated)):
        accuracy, calibration_error = accuracy_and_calibration(classifier, held_out, gold)
        figures[key] = {"accuracy": accuracy, "calibration_error": calibration_error}
    figures.update(temperature=training_figures["temperature"], train_seconds=train_seconds)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tutorbook_evals.embedding_classifiers", description=__doc__)
    parser.add_argument("--eval-data", type=Path, default=default_eval_data(REPO_ROOT), help="banking77, clinc150")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=RESULT_FILE)
    args = parser.parse_args()
    from tutorbook_retriever.settings import RetrieverSettings
    from tutorbook_retriever.wiring import open_embedder

    settings = RetrieverSettings()
    embedder, embedder_name = open_embedder(settings), settings.embedding.embedder_name()
    results = {}
    for name, (source, subset) in SETS.items():
        dataset = builtin_classification(source, REPO_ROOT / "samples", args.eval_data, subset)
        results[name] = evaluate_set(dataset, embedder, embedder_name, args.seed)
    document = {"figures": {"seed": args.seed, "precision": settings.embedding.precision, "sets": results}}
    write_results("embedding-classifiers", document["figures"], args.json)
    print("\n".join(embedding_classifier_calibration(document)))
    print(f"figures: {args.json}")


if __name__ == "__main__":
    main()
