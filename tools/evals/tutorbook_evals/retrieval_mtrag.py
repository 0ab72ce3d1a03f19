"""``mtrag-cloud``: IBM Cloud documentation with the MTRAG benchmark's questions, a corpus no retrieval
choice of this project was made on (added 2026-12-07, after the fusion method and the int8 default).

Read from a checkout of github.com/pashaAbri/mt-rag-benchmark at :data:`MTRAG_COMMIT`, a fork of
github.com/IBM/mt-rag-benchmark whose question and gold files are the original's byte for byte
(Apache-2.0). The benchmark's own corpus (57,638 IBM Cloud pages, cut into 512-token passages) is not in
the repository snapshot this machine can fetch; the fork keeps the top-10 passages, with their text and
page address, that four retrievers (BM25 twice, BGE, ELSER) returned for each question in three forms.
Those passages, plus every passage the conversations showed their annotators (415 gold, 47 judged not
relevant; read from the fork's own ``cleaned_data``), are the corpus: about 6,300 passages of 2,500
pages, each a document titled from its page's address, so every passage gets the same kind of title.
A pool built from other retrievers' best candidates is not the whole documentation: its distractors are
the passages that looked most like some question, so figures on it are not those of the full corpus (in
either direction).

Questions: the benchmark's standalone rewrites of each conversation turn (``cloud_rewrite.jsonl``, 188,
written by annotators talking to a RAG agent, not by real users), each with its gold passages
(``qrels/dev.tsv``); a question counts as found when any of its gold passages is.
"""

import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tutorbook_retriever.schemas import DocumentIn

MTRAG_COMMIT = "8bb7127798149e44eebd255b7434d0e97b1f12a8"
TASKS = Path("human/retrieval_tasks/cloud")
POOL_FILES = "scripts/baselines/retrieval_scripts/*/results/*cloud*.jsonl"
CONVERSATIONS = Path("cleaned_data/tasks/cloud")
PASSAGE_ID = re.compile(r"^(?P<page>.+)-\d+-\d+$")
SPEAKER = re.compile(r"^\|user\|:\s*")


def default_mtrag_data(repo_root: Path) -> Path:
    """``TUTORBOOK_MTRAG_DATA``, else a checkout beside the project (``../mt-rag-benchmark``)."""
    return Path(os.environ.get("TUTORBOOK_MTRAG_DATA", repo_root.parent / "mt-rag-benchmark"))


def is_checkout(folder: Path) -> bool:
    return (folder / TASKS / "qrels" / "dev.tsv").is_file()


def checkout_commit(folder: Path) -> str | None:
    """The commit the checkout holds (None outside git): the result file records it."""
    done = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def title_from_address(address: str) -> str:
    """``https://cloud.ibm.com/docs/Cloudant?topic=Cloudant-database-partitioning`` -> "Cloudant: database
    partitioning": the product and the page's topic, as the documentation's own address names them."""
    parts = urlsplit(address)
    product = parts.path.removeprefix("/docs").strip("/").split("/")[0]
    topic = parse_qs(parts.query).get("topic", [""])[0].removeprefix(f"{product}-")
    words = re.sub(r"[-_]+", " ", topic).strip()
    return f"{product}: {words}" if product and words else product or words or "IBM Cloud docs"


def pooled_passages(folder: Path) -> dict[str, tuple[str, str]]:
    """Passage id -> (page address, text): every passage the baseline retrievers returned, and every passage
    the conversations showed."""
    passages: dict[str, tuple[str, str]] = {}
    for path in sorted(folder.glob(POOL_FILES)):
        if "evaluated" in path.name:
            continue  # the same results with scores added
        for line in path.read_text(encoding="utf-8").splitlines():
            for context in json.loads(line)["contexts"]:
                passages.setdefault(context["document_id"], (context["source"], context["text"]))
    for path in sorted((folder / CONVERSATIONS).glob("*.json")):
        for context in json.loads(path.read_text(encoding="utf-8"))["agent"].get("contexts", []):
            passages.setdefault(context["document_id"], (context["url"], context["text"]))
    return passages


def mtrag_documents(passages: dict[str, tuple[str, str]]) -> list[DocumentIn]:
    """One document per passage that has text, titled from its page's address."""
    documents = []
    for passage_id, (address, text) in sorted(passages.items()):
        if not text.strip():
            continue  # a passage with no text: nothing to retrieve
        match = PASSAGE_ID.match(passage_id)
        metadata = {"page": match["page"] if match else passage_id, "url": address}
        documents.append(
            DocumentIn(id=passage_id, title=title_from_address(address), text=text.strip(), metadata=metadata)
        )
    return documents


def gold_passages(folder: Path) -> dict[str, set[str]]:
    gold: dict[str, set[str]] = {}
    for line in (folder / TASKS / "qrels" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        question_id, passage_id, _score = line.split("\t")
        gold.setdefault(question_id, set()).add(passage_id)
    return gold


def questions_with_gold(folder: Path, documents: set[str]) -> tuple[list[tuple[str, frozenset[str]]], int]:
    """(standalone question, its gold passages in the corpus) per conversation turn, and how many turns
    have none there (left out)."""
    gold = gold_passages(folder)
    questions, unmapped = [], 0
    for line in (folder / TASKS / "cloud_rewrite.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        found = frozenset(gold.get(row["_id"], set()) & documents)
        if found:
            questions.append((SPEAKER.sub("", row["text"]).strip(), found))
        else:
            unmapped += 1
    return questions, unmapped
