"""``tutorbook-compare DATASET``: every path side by side on your data, through the running stack.

Zero-shot and few-shot prompting of the base model, RAG, the adapter (``--adapter NAME``, or ``--train``
to train and upload one first) and the router (``auto``); for classification also a logistic regression
on the retriever's embeddings, the cheap baseline. It ends with a table and a recommendation, and writes
``comparison.json``, ``report.md`` and plots into ``--output`` (default ``data/comparisons/DATASET``,
where the gateway's advisor finds it). See docs/compare.md.
"""

import argparse
import os
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from tutorbook_config.local_keys import MissingKeyError, admin_key
from tutorbook_devstack.bench_machine import describe_code
from tutorbook_evals.compare.datasets import (
    CLASSIFICATION_SETS,
    QA_SETS,
    ClassificationSet,
    QASet,
    Subset,
    builtin_classification,
    builtin_qa,
    classification_files,
    qa_files,
)
from tutorbook_evals.compare.runs import qa_split, run_classification, run_qa
from tutorbook_evals.routing_set import default_eval_data
from tutorbook_gateway.advisor.measured import Comparison

REPO_ROOT = Path(__file__).resolve().parents[4]


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tutorbook-compare", description=__doc__)
    parser.add_argument("dataset", help=f"one of {', '.join(CLASSIFICATION_SETS + QA_SETS)}, or a name for your files")
    parser.add_argument("--train-file", type=Path, help="your classification data: training JSONL {text, label}")
    parser.add_argument("--test-file", type=Path, help="your classification data: held-out JSONL {text, label}")
    parser.add_argument("--questions", type=Path, help="your QA data: JSONL {question, answer, doc_id}")
    parser.add_argument("--documents", type=Path, help="your QA data: a folder of Markdown documents")
    parser.add_argument("--eval-data", type=Path, help="where banking77, clinc150, emanual-qa lie (default: ../shared)")
    parser.add_argument("--samples", type=Path, default=REPO_ROOT / "samples")
    parser.add_argument("--gateway-url", default="http://127.0.0.1:8000")
    parser.add_argument(
        "--key", help="an admin key (default: $TUTORBOOK_ADMIN_KEY, $TUTORBOOK_GATEWAY_KEYS__ADMIN_KEYS, .env)"
    )
    parser.add_argument("--base-model", default="smollm2-135m-instruct", help="the base model's served name")
    parser.add_argument("--adapter", help="the adapter to compare (default with --train: the dataset's name)")
    parser.add_argument("--train", action="store_true", help="train the adapter on the training split and upload it")
    parser.add_argument("--ingest", action="store_true", help="QA: ingest the corpus into the stack first")
    parser.add_argument("--labels", type=int, help="classification: a random subset of this many labels")
    parser.add_argument("--train-per-label", type=int, help="classification: training texts per label")
    parser.add_argument("--test-per-label", type=int, help="classification: held-out texts per label")
    parser.add_argument("--limit", type=int, help="evaluate at most this many held-out examples (a random sample)")
    parser.add_argument("--shots-per-label", type=int, default=1)
    parser.add_argument("--max-shots", type=int, default=24, help="few-shot: at most this many solved examples")
    parser.add_argument("--max-tokens", type=int, default=256, help="QA: the longest answer generated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, help="default: data/comparisons/DATASET")
    parser.add_argument("--team", help="the result is this team's: data/comparisons/teams/TEAM/DATASET by default, "
                        "read by the advisor for that team's keys only")  # fmt: skip
    return parser


def load(args: argparse.Namespace) -> ClassificationSet | QASet:
    subset = Subset(args.labels, args.train_per_label, args.test_per_label, args.seed)
    eval_data = args.eval_data or default_eval_data(REPO_ROOT)
    if args.train_file or args.test_file:
        if not (args.train_file and args.test_file):
            raise ValueError("your classification data needs both --train-file and --test-file")
        return classification_files(args.dataset, args.train_file, args.test_file, subset)
    if args.questions or args.documents:
        if not (args.questions and args.documents):
            raise ValueError("your QA data needs both --questions and --documents")
        return qa_files(args.dataset, args.questions, args.documents)
    if args.dataset in CLASSIFICATION_SETS:
        return builtin_classification(args.dataset, args.samples, eval_data, subset)
    if args.dataset in QA_SETS:
        return builtin_qa(args.dataset, args.samples, eval_data)
    raise ValueError(f"unknown dataset {args.dataset!r}: name a built-in one or pass your files")


def limited(dataset: ClassificationSet | QASet, limit: int | None, seed: int) -> ClassificationSet | QASet:
    if limit is None:
        return dataset
    rng = random.Random(seed)
    if isinstance(dataset, ClassificationSet):
        test = rng.sample(dataset.test, min(limit, len(dataset.test)))
        return ClassificationSet(dataset.name, dataset.labels, dataset.train, test)
    return QASet(dataset.name, dataset.documents, rng.sample(dataset.questions, min(limit, len(dataset.questions))))


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        key = admin_key(args.key, os.environ)
        dataset = limited(load(args), args.limit, args.seed)
    except (MissingKeyError, ValueError, OSError) as exc:
        sys.exit(str(exc))
    command = "tutorbook-compare " + " ".join(argv if argv is not None else sys.argv[1:])
    started = time.perf_counter()
    if isinstance(dataset, ClassificationSet):
        results, notes, confidences = run_classification(dataset, args, key)
        task, metric, examples = "classification", "accuracy", len(dataset.test)
    else:
        results, notes, confidences = run_qa(dataset, args, key)
        task, metric, examples = "qa", "token_f1", len(qa_split(dataset, args.seed)[1])
    created = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    comparison = Comparison(
        dataset=args.dataset, task=task, metric=metric, examples=examples, paths=results, created=created,
        command=command, commit=describe_code(__file__) or "",
    )  # fmt: skip
    folder = Path("data") / "comparisons" / ("teams/" + args.team if args.team else "") / args.dataset
    finish(comparison, notes, confidences, args.output or folder, started)


def finish(
    comparison: Comparison, notes: list[str], confidences: dict[str, list[tuple[float, bool]]], output: Path,
    started: float,
) -> None:  # fmt: skip
    from tutorbook_evals.compare.report import table, write_outputs
    from tutorbook_evals.compare.summary import recommendation

    advice = recommendation(comparison)
    comparison.recommendation = advice
    notes = [*notes, f"the whole comparison took {time.perf_counter() - started:.0f} s"]
    write_outputs(output, comparison, advice, notes, confidences)
    print("\n".join(table(comparison)))
    print(f"\nrecommendation ({advice['approach']}): {advice['reason']}")
    print(f"report, figures and plots: {output}")


if __name__ == "__main__":
    main()
