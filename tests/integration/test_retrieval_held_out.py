"""The retrieval evaluation's held-out questions, on the real E-Manual data: none is about a section the
50 questions the retrieval choices were made on are about, none repeats one of them or another held-out
question, and each has its gold section in the corpus searched; the held-out documentation corpus holds
every gold passage of its questions. Skipped, and said so, where the data is absent."""

import csv
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tutorbook_evals.retrieval_corpora import TV_QUESTIONS, load_corpus
from tutorbook_evals.retrieval_mtrag import MTRAG_COMMIT, default_mtrag_data, is_checkout
from tutorbook_evals.routing_set import default_eval_data, normalised


def emanual_or_skip() -> Path:
    eval_data = default_eval_data(REPO_ROOT)
    if eval_data is None or not (eval_data / "emanual-qa" / TV_QUESTIONS).is_file():
        pytest.skip("emanual-qa not found: set TUTORBOOK_EVAL_DATA to the eval-data folder")
    return eval_data / "emanual-qa"


def test_the_held_out_questions_share_nothing_with_the_questions_the_choices_saw() -> None:
    folder = emanual_or_skip()
    tuned, held_out = load_corpus("emanual-tv", folder), load_corpus("emanual-tv-held-out", folder)
    assert len(held_out.questions) >= 200 and held_out.documents == tuned.documents
    with (folder / TV_QUESTIONS).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))  # all 50, those without a gold section in the corpus too
    tuned_texts = {normalised(row["question"]) for row in rows}
    held_out_texts = [normalised(question.text) for question in held_out.questions]
    assert not tuned_texts & set(held_out_texts) and len(set(held_out_texts)) == len(held_out_texts)
    tuned_gold = {section for question in tuned.questions for section in question.gold}
    documents = {document.id for document in tuned.documents}
    for question in held_out.questions:
        assert question.gold and question.gold <= documents and not question.gold & tuned_gold, question.text


def test_the_held_out_documentation_corpus_holds_every_questions_gold_passage() -> None:
    folder = default_mtrag_data(REPO_ROOT)
    if not is_checkout(folder):
        pytest.skip(f"no mt-rag-benchmark checkout at {folder}: set TUTORBOOK_MTRAG_DATA (docs/retriever.md)")
    corpus = load_corpus("mtrag-cloud", folder)
    documents = {document.id for document in corpus.documents}
    assert len(documents) == len(corpus.documents) > 5000
    assert len(corpus.questions) == 188 and corpus.unmapped == 0
    assert all(question.gold and question.gold <= documents for question in corpus.questions)
    assert corpus.source.endswith(MTRAG_COMMIT)
