"""The held-out documentation corpus (MTRAG's IBM Cloud questions over the passages its retrievers
pooled), read from a checkout laid out like github.com/pashaAbri/mt-rag-benchmark."""

import json
from pathlib import Path

import pytest

from tutorbook_evals.retrieval_corpora import load_corpus
from tutorbook_evals.retrieval_mtrag import title_from_address

PAGE = "https://cloud.ibm.com/docs/Cloudant?topic=Cloudant-database-partitioning"


def write_checkout(root: Path) -> Path:
    tasks = root / "human" / "retrieval_tasks" / "cloud"
    (tasks / "qrels").mkdir(parents=True)
    turns = [
        {"_id": "c1<::>1", "text": "|user|: can I partition a database?"},
        {"_id": "c1<::>2", "text": "|user|: x?"},
    ]
    (tasks / "cloud_rewrite.jsonl").write_text("".join(json.dumps(turn) + "\n" for turn in turns))
    qrels = [
        "query-id\tcorpus-id\tscore",
        "c1<::>1\tibmcld_1-3-60\t1",
        "c1<::>1\tibmcld_2-9-50\t1",
        "c1<::>2\tgone-0-9\t1",
    ]
    (tasks / "qrels" / "dev.tsv").write_text("\n".join(qrels) + "\n")
    results = root / "scripts" / "baselines" / "retrieval_scripts" / "bm25" / "results"
    results.mkdir(parents=True)
    found = {"document_id": "ibmcld_1-3-60", "text": "\nPartitioned databases\n", "source": PAGE, "title": ""}
    (results / "bm25_cloud_rewrite.jsonl").write_text(json.dumps({"contexts": [found]}) + "\n")
    scored = {**found, "document_id": "ibmcld_7-0-9"}  # the same results with scores: not read
    (results / "bm25_cloud_rewrite_evaluated.jsonl").write_text(json.dumps({"contexts": [scored]}) + "\n")
    conversations = root / "cleaned_data" / "tasks" / "cloud"
    conversations.mkdir(parents=True)
    shown = {
        "document_id": "ibmcld_2-9-50",
        "text": "Cloudant stores any JSON.",
        "url": "https://cloud.ibm.com/docs/Cloudant",
    }
    (conversations / "c1<::>1.json").write_text(json.dumps({"agent": {"contexts": [shown]}}))
    return root


def test_the_pooled_and_the_shown_passages_are_the_corpus_each_titled_by_its_address(tmp_path: Path) -> None:
    corpus = load_corpus("mtrag-cloud", write_checkout(tmp_path))
    assert [document.id for document in corpus.documents] == ["ibmcld_1-3-60", "ibmcld_2-9-50"]
    pooled, shown = corpus.documents
    assert pooled.title == "Cloudant: database partitioning" and pooled.metadata["page"] == "ibmcld_1"
    assert shown.title == "Cloudant"
    [question] = corpus.questions
    assert question.text == "can I partition a database?"
    assert question.gold == {"ibmcld_1-3-60", "ibmcld_2-9-50"}
    assert corpus.unmapped == 1  # its gold passage is in neither the pool nor a conversation


@pytest.mark.parametrize(
    ("address", "title"),
    [
        ("https://cloud.ibm.com/docs/openwhisk?topic=openwhisk-pkg_mobile_sdk", "openwhisk: pkg mobile sdk"),
        ("https://cloud.ibm.com/docs/transit-gateway", "transit-gateway"),
        ("https://cloud.ibm.com/docs?tab=faqs", "IBM Cloud docs"),
    ],
)
def test_a_title_is_the_product_and_topic_the_address_names(address: str, title: str) -> None:
    assert title_from_address(address) == title


def test_a_folder_that_is_not_the_checkout_says_so(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pashaAbri/mt-rag-benchmark"):
        load_corpus("mtrag-cloud", tmp_path)
