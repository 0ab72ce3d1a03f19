"""``tutorbook-eval-retrieval``: ingest a corpus into a fresh embedded index, then score dense-only,
BM25-only and hybrid search side by side (recall@1/5/10 and MRR@10)."""

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from tutorbook_config.service_settings import replaced
from tutorbook_evals.retrieval_charts import plot_retrieval
from tutorbook_evals.retrieval_corpora import DATASETS, EvalCorpus, load_corpus
from tutorbook_evals.retrieval_scores import CUTOFFS, RetrievalScores, ranked_documents, score_rankings
from tutorbook_retriever.clients.embedder import Embedder
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.ingestion import ingest_documents
from tutorbook_retriever.schemas import SearchMode
from tutorbook_retriever.search import Fusion, SearchOptions, search_chunks
from tutorbook_retriever.settings import RetrieverSettings
from tutorbook_retriever.wiring import ingest_limits, open_embedder, open_store, search_defaults

# (label, mode, fusion): the two single signals, then hybrid with each fusion method.
RUNS: tuple[tuple[str, SearchMode, Fusion], ...] = (
    ("dense only", "dense", "score"),
    ("BM25 only", "lexical", "score"),
    ("hybrid (score)", "hybrid", "score"),
    ("hybrid (RRF)", "hybrid", "rrf"),
)
BATCH = 64


def ingest_corpus(corpus: EvalCorpus, settings: RetrieverSettings, store: Store, embedder: Embedder) -> float:
    limits = ingest_limits(settings, max_documents=10_000)
    started = time.perf_counter()
    for start in tqdm(range(0, len(corpus.documents), BATCH), desc="ingest", unit="batch"):
        ingest_documents(corpus.documents[start : start + BATCH], embedder, store, limits)
    return time.perf_counter() - started


def evaluate_modes(
    corpus: EvalCorpus, store: Store, embedder: Embedder, options: SearchOptions
) -> dict[str, RetrievalScores]:
    golds = [question.gold for question in corpus.questions]
    results = {}
    for label, mode, fusion in RUNS:
        run_options = dataclasses.replace(options, mode=mode, fusion=fusion, top_k=max(CUTOFFS) * 3)
        rankings = [
            ranked_documents(search_chunks(question.text, run_options, embedder, store).hits)
            for question in tqdm(corpus.questions, desc=label, unit="q")
        ]
        results[label] = score_rankings(rankings, golds)
    return results


def format_table(corpus: EvalCorpus, results: dict[str, RetrievalScores]) -> str:
    header = f"{'retrieval':<16}" + "".join(f"{'R@' + str(k):>8}" for k in CUTOFFS) + f"{'MRR@10':>9}"
    lines = [
        f"{corpus.name}: {len(corpus.documents)} documents, {len(corpus.questions)} questions"
        + (f" ({corpus.unmapped} without a gold section in the corpus, left out)" if corpus.unmapped else ""),
        header,
        "-" * len(header),
    ]
    for label, scores in results.items():
        recalls = "".join(f"{scores.recall[k]:>8.3f}" for k in CUTOFFS)
        lines.append(f"{label:<16}{recalls}{scores.mrr:>9.3f}")
    return "\n".join(lines)


def evaluate_corpus(
    corpus: EvalCorpus, settings: RetrieverSettings, embedder: Embedder, plot: Path | None = None
) -> str:
    """Ingest ``corpus`` into a fresh embedded index and return the report (summary line and table);
    with ``plot``, also draw the scores as a bar chart there."""
    with tempfile.TemporaryDirectory(prefix="tutorbook-eval-") as tmp:
        embedded = replaced(settings, shared__data_dir=Path(tmp), store__qdrant_url="")
        store, close = open_store(embedded, embedder.dimension)  # what the service runs: Qdrant Edge
        try:
            seconds = ingest_corpus(corpus, settings, store, embedder)
            chunks = store.chunks.count()
            results = evaluate_modes(corpus, store, embedder, search_defaults(settings))
        finally:
            close()
    summary = f"ingested {len(corpus.documents)} documents ({chunks} chunks) in {seconds:.1f} s"
    if plot is not None:
        title = f"{corpus.name}: {len(corpus.questions)} questions, {len(corpus.documents)} documents"
        summary += f"\nchart: {plot_retrieval(title, results, plot)}"
    return f"{summary}\n{format_table(corpus, results)}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="tutorbook-eval-retrieval", description=__doc__)
    parser.add_argument("dataset", choices=DATASETS)
    parser.add_argument("--data", type=Path, help="dataset folder (samples: ./samples; emanual-*: .../emanual-qa)")
    parser.add_argument("--plot", type=Path, help="also draw the results as a PNG bar chart at this path")
    args = parser.parse_args()
    folder = args.data or Path("samples" if args.dataset == "samples" else "../shared/eval-data/emanual-qa")
    corpus = load_corpus(args.dataset, folder)
    settings = RetrieverSettings()
    print("\n" + evaluate_corpus(corpus, settings, open_embedder(settings), args.plot))


if __name__ == "__main__":
    main()
