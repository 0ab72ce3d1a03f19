"""``tutorbook-eval-retrieval``: ingest a corpus into a fresh embedded index, then score dense-only,
BM25-only and hybrid search side by side (recall@1/5/10 and MRR@10)."""

import argparse
import dataclasses
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm import tqdm

from tutorbook_config.service_settings import replaced
from tutorbook_devstack.bench_report import write_results
from tutorbook_evals.retrieval_charts import plot_retrieval
from tutorbook_evals.retrieval_corpora import DATASETS, EvalCorpus, load_corpus
from tutorbook_evals.retrieval_mtrag import default_mtrag_data
from tutorbook_evals.retrieval_scores import CUTOFFS, RetrievalScores, ranked_documents, score_rankings
from tutorbook_retriever.clients.embedder import Embedder
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.ingestion import ingest_documents
from tutorbook_retriever.schemas import SearchMode
from tutorbook_retriever.search import Fusion, SearchOptions, search_chunks
from tutorbook_retriever.settings import RetrieverSettings
from tutorbook_retriever.wiring import ingest_limits, open_embedder, open_store, search_defaults

REPO_ROOT = Path(__file__).resolve().parents[3]

# (label, mode, fusion): the two single signals, then hybrid with each fusion method.
RUNS: tuple[tuple[str, SearchMode, Fusion], ...] = (
    ("dense only", "dense", "score"),
    ("BM25 only", "lexical", "score"),
    ("hybrid (score)", "hybrid", "score"),
    ("hybrid (RRF)", "hybrid", "rrf"),
)
BATCH = 64
RANKED_CHUNKS = max(CUTOFFS) * 3  # chunks searched per question (several may be one document's)
INDEX_TIMEOUT = 1800.0  # seconds for an index built in the background (an HNSW graph past the setting)


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
        run_options = dataclasses.replace(options, mode=mode, fusion=fusion, top_k=RANKED_CHUNKS)
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


@contextmanager
def fresh_index(corpus: EvalCorpus, settings: RetrieverSettings, embedder: Embedder) -> Iterator[tuple[Store, float]]:
    """``corpus`` ingested into a fresh embedded index (what the service runs: Qdrant Edge), its background
    index built; yields the store and the seconds ingestion took, and deletes the index after."""
    with tempfile.TemporaryDirectory(prefix="tutorbook-eval-") as tmp:
        embedded = replaced(settings, shared__data_dir=Path(tmp), store__qdrant_url="")
        store, close = open_store(embedded, embedder.dimension)
        try:
            seconds = ingest_corpus(corpus, settings, store, embedder)
            store.chunks.wait_indexed(INDEX_TIMEOUT)  # scored on the index the retriever would search
            yield store, seconds
        finally:
            close()


def measure_corpus(
    corpus: EvalCorpus, settings: RetrieverSettings, embedder: Embedder
) -> tuple[dict[str, RetrievalScores], int, float]:
    """Score every retrieval on a :func:`fresh_index` of ``corpus``; returns the scores, the chunks indexed
    and the seconds ingestion took."""
    with fresh_index(corpus, settings, embedder) as (store, seconds):
        return evaluate_modes(corpus, store, embedder, search_defaults(settings)), store.chunks.count(), seconds


def evaluate_corpus(
    corpus: EvalCorpus, settings: RetrieverSettings, embedder: Embedder, plot: Path | None = None
) -> str:
    """The report of :func:`measure_corpus` (with ``plot``, also drawn as a bar chart there)."""
    return reported(corpus, *measure_corpus(corpus, settings, embedder), plot)


def reported(
    corpus: EvalCorpus, results: dict[str, RetrievalScores], chunks: int, seconds: float, plot: Path | None
) -> str:
    """A summary line and the table of ``results``; with ``plot``, a bar chart drawn there too."""
    summary = f"ingested {len(corpus.documents)} documents ({chunks} chunks) in {seconds:.1f} s"
    if plot is not None:
        title = f"{corpus.name}: {len(corpus.questions)} questions, {len(corpus.documents)} documents"
        summary += f"\nchart: {plot_retrieval(title, results, plot)}"
    return f"{summary}\n{format_table(corpus, results)}"


def corpus_figures(results: dict[str, RetrievalScores]) -> dict[str, Any]:
    """The scores as a result file holds them: recall at each cutoff and MRR@10, per retrieval."""
    return {
        result_key(label): {"recall": {str(k): scores.recall[k] for k in CUTOFFS}, "mrr": scores.mrr}
        for label, scores in results.items()
    }


def result_key(label: str) -> str:
    """A retrieval's name in a result file: "hybrid (score)" is ``hybrid-score``, "BM25 only" ``bm25``."""
    return label.removesuffix(" only").replace(" (", "-").removesuffix(")").lower()


def default_folder(dataset: str) -> Path:
    if dataset == "mtrag-cloud":
        return default_mtrag_data(REPO_ROOT)
    return Path("samples" if dataset == "samples" else "../shared/eval-data/emanual-qa")


def main() -> None:
    parser = argparse.ArgumentParser(prog="tutorbook-eval-retrieval", description=__doc__)
    parser.add_argument("dataset", choices=DATASETS)
    parser.add_argument(
        "--data",
        type=Path,
        help="dataset folder (samples: ./samples; emanual-*: .../emanual-qa; mtrag-cloud: a checkout of "
        "github.com/pashaAbri/mt-rag-benchmark)",
    )
    parser.add_argument("--plot", type=Path, help="also draw the results as a PNG bar chart at this path")
    parser.add_argument("--precision", nargs="+", choices=("int8", "fp32"), help="embed at each, side by side")
    parser.add_argument("--json", type=Path, help="also write the figures to this result file")
    parser.add_argument(
        "--graph-after-chunks", nargs="+", type=int, metavar="N",
        help="Edge's graph setting (TUTORBOOK_RETRIEVER_STORE__GRAPH_AFTER_CHUNKS) at each value, side by side "
        "(0: exact search); the figures are then by setting, then by precision",
    )  # fmt: skip
    args = parser.parse_args()
    folder = args.data or default_folder(args.dataset)
    corpus = load_corpus(args.dataset, folder)
    settings = RetrieverSettings()
    graphs = args.graph_after_chunks or [settings.store.graph_after_chunks]
    by_graph = {
        str(graph): by_precision(corpus, replaced(settings, store__graph_after_chunks=graph), args) for graph in graphs
    }
    if args.json:
        figures = {"dataset": corpus.name, "documents": len(corpus.documents), "questions": len(corpus.questions)}
        figures |= {"unmapped": corpus.unmapped}
        if args.graph_after_chunks:
            figures |= {"graph_after_chunks": by_graph}
        else:
            figures |= {"precisions": by_graph[str(graphs[0])]}
        figures |= {"source": corpus.source} if corpus.source else {}
        print(f"figures: {write_results(f'retrieval-{corpus.name}', figures, args.json)}")


def by_precision(corpus: EvalCorpus, settings: RetrieverSettings, args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for precision in args.precision or [settings.embedding.precision]:
        measured = replaced(settings, embedding__precision=precision)
        print(f"\nembedding precision: {precision}, graph after {settings.store.graph_after_chunks} chunks")
        results, chunks, seconds = measure_corpus(corpus, measured, open_embedder(measured))
        print(reported(corpus, results, chunks, seconds, args.plot))
        figures[precision] = {"chunks": chunks, "retrievals": corpus_figures(results)}
    return figures


if __name__ == "__main__":
    main()
