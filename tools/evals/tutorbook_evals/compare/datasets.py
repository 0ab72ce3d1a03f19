"""What ``tutorbook-compare`` evaluates: a classification set (training and held-out labelled texts) or a
question-answering set (a corpus, questions, reference answers and gold documents).

Read in place, never copied: the project's samples, ``../shared/eval-data`` (``banking77``, ``clinc150``,
``emanual-qa``), or a company's own files in the documented JSONL format (docs/compare.md):
``{"text", "label"}`` per line for classification, ``{"question", "answer", "doc_id"}`` per line plus a
folder of Markdown documents for question answering.
"""

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

from tutorbook_evals.retrieval_corpora import EvalQuestion, load_corpus
from tutorbook_retriever.loaders import load_markdown_folder
from tutorbook_retriever.schemas import DocumentIn

CLASSIFICATION_SETS = ("support-triage", "support-intents", "banking77", "clinc150")
QA_SETS = ("samples", "emanual-s10", "emanual-tv")


@dataclass(frozen=True)
class Labelled:
    text: str
    label: str


@dataclass(frozen=True)
class ClassificationSet:
    name: str
    labels: list[str]
    train: list[Labelled]
    test: list[Labelled]


@dataclass(frozen=True)
class QASet:
    name: str
    documents: list[DocumentIn]
    questions: list[EvalQuestion]


@dataclass(frozen=True)
class Subset:
    """For the large sets: how many labels (a random subset, or exactly the ones ``names`` lists, which
    then wins over ``labels``), training and held-out texts per label."""

    labels: int | None = None
    train_per_label: int | None = None
    test_per_label: int | None = None
    seed: int = 0
    names: tuple[str, ...] = ()


def read_jsonl(path: Path) -> list[dict[str, str]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{number}: each line must be a JSON object")
            rows.append(row)
    return rows


def labelled_file(path: Path) -> list[Labelled]:
    rows = read_jsonl(path)
    for number, row in enumerate(rows, start=1):
        if not isinstance(row.get("text"), str) or not isinstance(row.get("label"), str):
            raise ValueError(f"{path}: example {number} needs a string 'text' and 'label'")
    return [Labelled(row["text"], row["label"]) for row in rows]


def classification_files(name: str, train: Path, test: Path, subset: Subset) -> ClassificationSet:
    return narrowed(name, labelled_file(train), labelled_file(test), subset)


def normalised(text: str) -> str:
    return " ".join(text.lower().split())


def narrowed(name: str, train: list[Labelled], test: list[Labelled], subset: Subset) -> ClassificationSet:
    """Keep ``subset.labels`` labels (chosen at random, sorted) and at most so many texts of each. A held-out
    text that is also a training text (the same once case and spaces are normalised) is dropped."""
    seen = {normalised(example.text) for example in train}
    test = [example for example in test if normalised(example.text) not in seen]
    rng = random.Random(subset.seed)
    labels = sorted({example.label for example in train})
    if subset.names:
        missing = set(subset.names) - set(labels)
        if missing:
            raise ValueError(f"{name}: no training texts for {', '.join(sorted(missing))}")
        labels = sorted(set(subset.names))
    elif subset.labels is not None and subset.labels < len(labels):
        labels = sorted(rng.sample(labels, subset.labels))

    def take(examples: list[Labelled], per_label: int | None) -> list[Labelled]:
        chosen = []
        for label in labels:
            of_label = [example for example in examples if example.label == label]
            chosen += of_label if per_label is None else rng.sample(of_label, min(per_label, len(of_label)))
        rng.shuffle(chosen)
        return chosen

    unknown = {example.label for example in test} - set(labels)
    if subset.labels is None and not subset.names and unknown:
        raise ValueError(f"{name}: held-out labels missing from the training data: {', '.join(sorted(unknown))}")
    test = [example for example in test if example.label not in unknown]
    return ClassificationSet(name, labels, take(train, subset.train_per_label), take(test, subset.test_per_label))


def banking77(folder: Path, subset: Subset) -> ClassificationSet:
    def read(path: Path) -> list[Labelled]:
        with path.open(newline="", encoding="utf-8") as handle:
            return [Labelled(row["text"], row["category"]) for row in csv.DictReader(handle)]

    return narrowed("banking77", read(folder / "train.csv"), read(folder / "test.csv"), subset)


def clinc150(folder: Path, subset: Subset) -> ClassificationSet:
    data = json.loads((folder / "data_full.json").read_text(encoding="utf-8"))
    train, test = ([Labelled(text, label) for text, label in data[part]] for part in ("train", "test"))
    return narrowed("clinc150", train, test, subset)


def qa_files(name: str, questions: Path, documents: Path) -> QASet:
    rows = read_jsonl(questions)
    for number, row in enumerate(rows, start=1):
        if not isinstance(row.get("question"), str) or not isinstance(row.get("answer"), str):
            raise ValueError(f"{questions}: question {number} needs a string 'question' and 'answer'")
    docs = [DocumentIn(**document) for document in load_markdown_folder(documents)]
    asked = [
        EvalQuestion(r["question"], frozenset([r["doc_id"]] if r.get("doc_id") else []), r["answer"]) for r in rows
    ]
    return QASet(name, docs, asked)


def builtin_qa(name: str, samples: Path, eval_data: Path | None) -> QASet:
    if name == "samples":
        corpus = load_corpus("samples", samples)
    else:
        if eval_data is None:
            raise ValueError(f"{name} is read from ../shared/eval-data/emanual-qa; pass --eval-data")
        corpus = load_corpus(name, eval_data / "emanual-qa")
    return QASet(name, corpus.documents, [question for question in corpus.questions if question.answer])


def builtin_classification(name: str, samples: Path, eval_data: Path | None, subset: Subset) -> ClassificationSet:
    if name in ("support-triage", "support-intents"):
        folder = samples / name.replace("-", "_")
        return classification_files(name, folder / "train.jsonl", folder / "test.jsonl", subset)
    if eval_data is None:
        raise ValueError(f"{name} is read from ../shared/eval-data/{name}; pass --eval-data")
    return banking77(eval_data / "banking77", subset) if name == "banking77" else clinc150(eval_data / name, subset)
