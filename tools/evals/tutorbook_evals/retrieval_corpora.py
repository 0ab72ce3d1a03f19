"""Retrieval evaluation corpora: documents plus questions with their gold document ids.

- ``samples``: this project's Brightleaf Home knowledge base and question set.
- ``emanual-s10`` / ``emanual-tv``: the Samsung manuals of the EMNLP 2021 E-Manual QA data set
  (``../shared/eval-data/emanual-qa``; read only, never copied into the project). Gold evidence is a
  section path; S10 sections map by the titles along their hierarchy, TV sections by their own title.
- ``emanual-tv-held-out``: the Smart TV manual's other annotated questions (``smart_remote_QA.zip``: normal,
  paraphrased, compound and yes/no), kept out of every retrieval choice. A question is left out when its
  gold section is the gold of any of the 50 questions the choices were made on (so no paraphrase of
  them is in), or when it repeats another after normalising case and punctuation. The manual's text is
  the one ``emanual-tv`` searches: the questions are held out, the documents are not.
- ``mtrag-cloud``: IBM Cloud documentation passages and the MTRAG benchmark's questions, a corpus held out
  of every retrieval choice (:mod:`tutorbook_evals.retrieval_mtrag` says where it comes from).

:func:`manual_pages` (no questions: for ingestion speed) joins both manuals' sections, in the manuals'
order, into long pages.
"""

import csv
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tutorbook_evals.retrieval_mtrag import (
    MTRAG_COMMIT,
    checkout_commit,
    is_checkout,
    mtrag_documents,
    pooled_passages,
    questions_with_gold,
)
from tutorbook_evals.routing_set import normalised
from tutorbook_retriever.loaders import load_markdown_folder
from tutorbook_retriever.schemas import DocumentIn
from tutorbook_training.grounded_reader import ANNOTATED_ZIP, ZIPPED_QUESTION

DATASETS = ("samples", "emanual-s10", "emanual-tv", "emanual-tv-held-out", "mtrag-cloud")
TV_QUESTIONS = "smart_tv_remote_50_questions.csv"


@dataclass(frozen=True)
class EvalQuestion:
    text: str
    gold: frozenset[str]
    answer: str = ""  # the reference answer, where the data set has one


@dataclass(frozen=True)
class EvalCorpus:
    name: str
    documents: list[DocumentIn]
    questions: list[EvalQuestion]
    unmapped: int  # questions whose gold section is not in the corpus (left out)
    source: str = ""  # where the data came from, where a data set is versioned outside the eval data


def load_samples(folder: Path) -> EvalCorpus:
    documents = [DocumentIn(**document) for document in load_markdown_folder(folder / "knowledge_base")]
    questions = [
        EvalQuestion(record["question"], frozenset([record["doc_id"]]), record.get("answer", ""))
        for record in map(json.loads, (folder / "questions.jsonl").read_text().splitlines())
    ]
    return EvalCorpus("samples", documents, questions, 0)


def load_emanual_s10(folder: Path) -> EvalCorpus:
    corpus = json.loads((folder / "s10_manual_corpus.json").read_text())

    def path(section: dict[str, str]) -> list[str]:
        return [corpus[part]["title"] for part in section["section_hierarchy"].split(">")]

    documents: list[DocumentIn] = []
    by_path: dict[str, set[str]] = {}
    for section_id, section in corpus.items():
        titles = path(section)
        text = "\n".join(line for line in section["text"] if line.strip())
        if not text:
            continue  # a heading-only section: nothing to retrieve
        by_path.setdefault(">".join(titles), set()).add(section_id)
        documents.append(DocumentIn(id=section_id, title=" > ".join(titles), text=text, metadata={"manual": "s10"}))
    return EvalCorpus("emanual-s10", documents, *questions_by_key(folder / "s10_50_questions.csv", by_path, full=True))


def tv_sections(folder: Path) -> tuple[list[DocumentIn], dict[str, set[str]]]:
    """The Smart TV manual's sections with text, and the section ids under each title."""
    corpus = json.loads((folder / "smart_tv_remote_manual_corpus.json").read_text())
    documents: list[DocumentIn] = []
    by_title: dict[str, set[str]] = {}
    for section_id, section in corpus.items():
        text = "\n".join(line for line in section["text"] if line.strip())
        if not text:
            continue  # a heading-only section: nothing to retrieve
        by_title.setdefault(section["title"], set()).add(section_id)
        documents.append(DocumentIn(id=section_id, title=section["title"], text=text, metadata={"manual": "tv"}))
    return documents, by_title


def manual_pages(folder: Path, page_chars: int = 6000) -> list[DocumentIn]:
    """Both manuals as long pages: each manual's sections in order, a Markdown heading each, joined until a
    page holds ``page_chars`` characters (the average page of a product's web documentation is about
    6,000), cut only between sections."""
    s10 = load_emanual_s10(folder).documents
    tv, _ = tv_sections(folder)
    pages: list[DocumentIn] = []
    for manual, sections in (("s10", s10), ("tv", tv)):
        parts: list[str] = []
        for number, section in enumerate(sections, 1):
            parts.append(f"## {section.title}\n\n{section.text}")
            if sum(map(len, parts)) >= page_chars or number == len(sections):
                index = len(pages)
                title = f"{manual} manual, page {index + 1}: {sections[number - len(parts)].title}"
                pages.append(DocumentIn(id=f"{manual}-page-{index + 1}", title=title, text="\n\n".join(parts)))
                parts = []
    return pages


def load_emanual_tv(folder: Path) -> EvalCorpus:
    documents, by_title = tv_sections(folder)
    questions = questions_by_key(folder / TV_QUESTIONS, by_title, full=False)
    return EvalCorpus("emanual-tv", documents, *questions)


def load_emanual_tv_held_out(folder: Path) -> EvalCorpus:
    documents, by_title = tv_sections(folder)
    with (folder / TV_QUESTIONS).open(newline="", encoding="utf-8") as handle:
        tuned = list(csv.DictReader(handle))
    tuned_sections = {row["section_path"].split(">")[-1].strip() for row in tuned}
    seen = {normalised(row["question"]) for row in tuned}
    questions, unmapped = [], 0
    with zipfile.ZipFile(folder / ANNOTATED_ZIP) as archive:
        for name in sorted(n for n in archive.namelist() if n.endswith(".json")):
            for path, question, answer in ZIPPED_QUESTION.findall(archive.read(name).decode("utf-8", "replace")):
                title, key = path.split(">")[-1].strip(), normalised(question)
                if title in tuned_sections or key in seen:
                    continue
                seen.add(key)
                if title not in by_title:
                    unmapped += 1
                    continue
                questions.append(EvalQuestion(" ".join(question.split()), frozenset(by_title[title]), answer))
    return EvalCorpus("emanual-tv-held-out", documents, questions, unmapped)


def load_mtrag_cloud(folder: Path) -> EvalCorpus:
    if not is_checkout(folder):
        raise ValueError(f"{folder}: not a checkout of github.com/pashaAbri/mt-rag-benchmark at {MTRAG_COMMIT[:7]}")
    documents = mtrag_documents(pooled_passages(folder))
    found, unmapped = questions_with_gold(folder, {document.id for document in documents})
    questions = [EvalQuestion(text, gold) for text, gold in found]
    source = f"github.com/pashaAbri/mt-rag-benchmark@{checkout_commit(folder) or 'unknown'}"
    return EvalCorpus("mtrag-cloud", documents, questions, unmapped, source)


def questions_by_key(csv_path: Path, gold_by_key: dict[str, set[str]], full: bool) -> tuple[list[EvalQuestion], int]:
    questions, unmapped = [], 0
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            key = row["section_path"] if full else row["section_path"].split(">")[-1]
            if key in gold_by_key:
                questions.append(EvalQuestion(row["question"], frozenset(gold_by_key[key]), row.get("answer", "")))
            else:
                unmapped += 1
    return questions, unmapped


def load_corpus(name: str, folder: Path) -> EvalCorpus:
    loaders = {
        "samples": load_samples,
        "emanual-s10": load_emanual_s10,
        "emanual-tv": load_emanual_tv,
        "emanual-tv-held-out": load_emanual_tv_held_out,
        "mtrag-cloud": load_mtrag_cloud,
    }
    if name not in loaders:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return loaders[name](folder)
