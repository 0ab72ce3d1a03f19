"""``python -m tutorbook_evals.retrieval_rerank DATASET``: does a reranker trained on the corpus itself put
the right page first more often, and what does it cost?

One run, side by side: the corpus is ingested into a fresh embedded index (what the retriever serves);
pairs are mined from its documents (headings against their sections, hard negatives from the first stage:
:mod:`tutorbook_training.reranker_pairs`); a cross-encoder is trained from the embedder's weights on them;
then every question is searched with the default hybrid search, and its top candidates rescored. No
question is seen in training: the pairs come from the documents alone, as they would on a team's corpus.
"""

import argparse
import dataclasses
import functools
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from tutorbook_devstack.bench_report import write_results
from tutorbook_evals.retrieval import (
    RANKED_CHUNKS,
    corpus_figures,
    default_folder,
    format_table,
    fresh_index,
)
from tutorbook_evals.retrieval_corpora import DATASETS, EvalCorpus, load_corpus
from tutorbook_evals.retrieval_scores import RetrievalScores, ranked_documents, score_rankings
from tutorbook_retriever.chunking import Chunk, chunk_document
from tutorbook_retriever.clients.embedder import Embedder, default_embedding_model_path
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.schemas import SearchHit
from tutorbook_retriever.search import dot, search_chunks
from tutorbook_retriever.settings import RetrieverSettings
from tutorbook_retriever.vectors import heading_of
from tutorbook_retriever.wiring import open_embedder, search_defaults
from tutorbook_training.reranker import CrossEncoderReranker, RerankTraining, save_reranker, train_reranker
from tutorbook_training.reranker_pairs import RerankGroup, Section, mine_groups

FIRST_STAGE = "hybrid (score)"


def corpus_sections(corpus: EvalCorpus, settings: RetrieverSettings) -> list[Section]:
    """Every chunk of the corpus as the retriever cuts it, with its heading path."""
    ingest = settings.ingest
    return [
        Section(document.id, heading_of(document.title or document.id, chunk), chunk.text)
        for document in corpus.documents
        for chunk in chunk_document(document.text, ingest.chunk_max_tokens, ingest.chunk_overlap_tokens)
    ]


def hit_section(hit: SearchHit) -> Section:
    return Section(hit.doc_id, heading_of(hit.title, Chunk(hit.section, hit.text)), hit.text)


def by_score(hits: Sequence[SearchHit], scores: Sequence[float]) -> list[SearchHit]:
    """``hits`` from the highest of ``scores`` (one per hit) down."""
    return [hit for _, hit in sorted(zip(scores, hits, strict=True), key=lambda pair: -pair[0])]


def standardised(values: Sequence[float]) -> list[float]:
    mean, spread = statistics.fmean(values), statistics.pstdev(values) or 1.0
    return [(value - mean) / spread for value in values]


def mixed_order(hits: Sequence[SearchHit], reranker_scores: Sequence[float], weight: float) -> list[SearchHit]:
    """``hits`` by ``weight`` x the reranker's standardised score + the rest x the first stage's."""
    if not hits:
        return []
    first_stage = standardised([hit.score for hit in hits])
    combined = [
        weight * reranked + (1 - weight) * first
        for first, reranked in zip(first_stage, standardised(reranker_scores), strict=True)
    ]
    return by_score(hits, combined)


Reorder = Callable[[str, list[float], Sequence[SearchHit]], list[SearchHit]]


def title_field(embedder: Embedder, weight: float) -> Reorder:
    """The heading path as its own field: (1 - ``weight``) x the first stage's score + ``weight`` x the
    cosine of the question with the heading alone (one vector per heading, kept once computed)."""
    vectors: dict[str, list[float]] = {}

    def reorder(question: str, vector: list[float], hits: Sequence[SearchHit]) -> list[SearchHit]:
        headings = [hit_section(hit).heading for hit in hits]
        missing = sorted({heading for heading in headings if heading not in vectors})
        vectors.update(zip(missing, embedder.embed(missing) if missing else [], strict=True))
        scores = [
            (1 - weight) * hit.score + weight * dot(vector, vectors[heading])
            for hit, heading in zip(hits, headings, strict=True)
        ]
        return by_score(hits, scores)

    return reorder


def page_evidence(weight: float) -> Reorder:
    """Several matching chunks of one page: a document scores its best chunk + ``weight`` x the sum of its
    other chunks' scores among the candidates; its chunks then rank by that score."""

    def reorder(question: str, vector: list[float], hits: Sequence[SearchHit]) -> list[SearchHit]:
        by_document: dict[str, list[float]] = {}
        for hit in hits:
            by_document.setdefault(hit.doc_id, []).append(hit.score)
        page_score = {doc: max(scores) + weight * (sum(scores) - max(scores)) for doc, scores in by_document.items()}
        return sorted(hits, key=lambda hit: (-page_score[hit.doc_id], -hit.score))

    return reorder


def scored_once(reranker: CrossEncoderReranker, seconds: list[float]) -> Callable[[str, tuple[str, ...]], list[float]]:
    """The reranker's scores of a question's passages, computed once however many weights mix them (the time
    of each computation kept in ``seconds``)."""

    @functools.cache
    def scores(question: str, passages: tuple[str, ...]) -> list[float]:
        started = time.perf_counter()
        found = reranker.score(question, list(passages))
        seconds.append(time.perf_counter() - started)
        return found

    return scores


def cross_encoder(scores: Callable[[str, tuple[str, ...]], list[float]], top: int, weight: float) -> Reorder:
    """The reranker's ``scores`` over the first ``top`` hits, mixed at ``weight``."""

    def reorder(question: str, vector: list[float], hits: Sequence[SearchHit]) -> list[SearchHit]:
        passages = tuple(hit.text for hit in hits[:top])
        return mixed_order(hits[:top], scores(question, passages), weight) + list(hits[top:])

    return reorder


def rescored(
    corpus: EvalCorpus, settings: RetrieverSettings, store: Store, embedder: Embedder, stages: dict[str, Reorder]
) -> dict[str, RetrievalScores]:
    """The first stage's scores, and each second stage's over the same candidates."""
    options = dataclasses.replace(search_defaults(settings), top_k=RANKED_CHUNKS)
    rankings: dict[str, list[list[str]]] = {label: [] for label in [FIRST_STAGE, *stages]}
    for question in tqdm(corpus.questions, desc="second stages", unit="q"):
        [vector] = embedder.embed([question.text])
        hits = search_chunks(question.text, options, embedder, store).hits
        rankings[FIRST_STAGE].append(ranked_documents(hits))
        for label, reorder in stages.items():
            rankings[label].append(ranked_documents(reorder(question.text, vector, hits)))
    golds = [question.gold for question in corpus.questions]
    return {label: score_rankings(ranked, golds) for label, ranked in rankings.items()}


def trained_reranker(
    corpus: EvalCorpus, settings: RetrieverSettings, store: Store, embedder: Embedder, args: argparse.Namespace
) -> tuple[CrossEncoderReranker, dict[str, Any]]:
    options = dataclasses.replace(search_defaults(settings), top_k=10)

    def first_stage(question: str) -> list[Section]:
        return [hit_section(hit) for hit in search_chunks(question, options, embedder, store).hits]

    started = time.perf_counter()
    groups: list[RerankGroup] = mine_groups(corpus_sections(corpus, settings), first_stage, args.max_groups)
    mined = time.perf_counter() - started
    training = RerankTraining(epochs=args.epochs, learning_rate=args.learning_rate)
    model, tokenizer, loss = train_reranker(Path(default_embedding_model_path()), groups, training)
    report = {"groups": len(groups), "mining_seconds": mined, "training_seconds": time.perf_counter() - started - mined}
    report |= {"epochs": training.epochs, "learning_rate": training.learning_rate, "last_epoch_loss": loss}
    if args.save:
        save_reranker(model, tokenizer, args.save, report | {"corpus": corpus.name, "base": "all-MiniLM-L6-v2"})
    print(
        f"mined {len(groups)} groups in {mined:.0f} s; trained in {report['training_seconds']:.0f} s, loss {loss:.3f}"
    )
    return CrossEncoderReranker(model, tokenizer), report


def measure(corpus: EvalCorpus, args: argparse.Namespace) -> dict[str, Any]:
    settings = RetrieverSettings()
    embedder = open_embedder(settings)
    stages: dict[str, Reorder] = {f"title field {w}": title_field(embedder, w) for w in args.title_weights}
    stages |= {f"page evidence {w}": page_evidence(w) for w in args.page_weights}
    figures: dict[str, Any] = {}
    seconds: list[float] = []
    with fresh_index(corpus, settings, embedder) as (store, _):
        if args.cross_encoder:
            reranker, figures["training"] = trained_reranker(corpus, settings, store, embedder, args)
            scores = scored_once(reranker, seconds)
            stages |= {
                f"cross-encoder top {top} at {w}": cross_encoder(scores, top, w)
                for top in args.rerank_top
                for w in args.cross_weights
            }
        results = rescored(corpus, settings, store, embedder, stages)
    print(format_table(corpus, results))
    if seconds:
        figures["cross_encoder_ms"] = {"p50": 1000 * statistics.median(seconds), "pairs": args.rerank_top}
        print(f"cross-encoder per question: p50 {figures['cross_encoder_ms']['p50']:.0f} ms")
    return figures | {"retrievals": corpus_figures(results)}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tutorbook_evals.retrieval_rerank", description=__doc__)
    parser.add_argument("dataset", choices=DATASETS)
    parser.add_argument("--data", type=Path, help="dataset folder (as tutorbook-eval-retrieval takes it)")
    parser.add_argument("--max-groups", type=int, default=400, help="training groups mined at most")
    parser.add_argument("--epochs", type=int, default=RerankTraining.epochs)
    parser.add_argument("--learning-rate", type=float, default=RerankTraining.learning_rate)
    parser.add_argument("--title-weights", nargs="+", type=float, default=[0.2, 0.4], help="the title field's share")
    parser.add_argument("--page-weights", nargs="+", type=float, default=[0.1, 0.3], help="other chunks' share")
    parser.add_argument("--cross-encoder", action="store_true", help="also train and measure the cross-encoder")
    parser.add_argument("--rerank-top", nargs="+", type=int, default=[10], help="first-stage hits it rescores")
    parser.add_argument("--cross-weights", nargs="+", type=float, default=[0.3, 1.0], help="the reranker's share")
    parser.add_argument("--save", type=Path, help="also keep the trained reranker in this folder")
    parser.add_argument("--json", type=Path, help="also write the figures to this result file")
    args = parser.parse_args()
    corpus = load_corpus(args.dataset, args.data or default_folder(args.dataset))
    figures = {"dataset": corpus.name, "documents": len(corpus.documents), "questions": len(corpus.questions)}
    figures |= measure(corpus, args)
    if args.json:
        print(f"figures: {write_results(f'rerank-{corpus.name}', figures, args.json)}")


if __name__ == "__main__":
    main()
