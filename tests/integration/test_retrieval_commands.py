"""The evaluation and benchmark commands run end to end (on the small sample corpus, to stay quick).

The figures that matter come from running them on the E-Manual data: see docs/retriever.md.
"""

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import MODEL_CACHE, REPO_ROOT, SAMPLES
from tutorbook_config.service_settings import configured
from tutorbook_evals.retrieval import evaluate_corpus
from tutorbook_evals.retrieval_corpora import load_corpus
from tutorbook_retriever.clients.embedder import SentenceTransformerEmbedder
from tutorbook_retriever.settings import RetrieverSettings


def test_evaluation_reports_every_retrieval_side_by_side(tmp_path: Path, embedder: SentenceTransformerEmbedder) -> None:
    chart = tmp_path / "samples.png"
    report = evaluate_corpus(
        load_corpus("samples", SAMPLES), configured(RetrieverSettings, shared__data_dir=tmp_path), embedder, chart
    )
    assert chart.read_bytes().startswith(b"\x89PNG")
    rows = {line[:16].strip(): line[16:].split() for line in report.splitlines() if line[16:17] == " "}
    assert {"dense only", "BM25 only", "hybrid (score)", "hybrid (RRF)"} <= rows.keys()
    r_at_1, r_at_5 = float(rows["hybrid (score)"][0]), float(rows["hybrid (score)"][1])
    assert r_at_5 == 1.0 and r_at_1 >= float(rows["BM25 only"][0])


def test_benchmark_prints_all_three_measurements(tmp_path: Path) -> None:
    """Ingestion stages, query embedding, and search through real retriever processes, both backends, local
    mode (exact) only up to its largest size."""
    command = [
        sys.executable, "-m", "tutorbook_evals.bench_retrieval", "--dataset", "samples", "--data", str(SAMPLES),
        "--sizes", "100,300", "--local-largest", "100", "--queries", "5", "--plot", str(tmp_path / "latency.png"),
        "--ingest-rounds", "0",
        "--json", str(tmp_path / "retrieval.json"),
    ]  # fmt: skip
    env = {
        "TUTORBOOK_DATA_DIR": str(tmp_path),
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
        "TUTORBOOK_MODEL_CACHE_DIR": str(MODEL_CACHE),
    }
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout
    assert "end to end, edge" in output and "end to end, local" in output and "onnx is" in output
    searched = [line.split()[:2] for line in output.splitlines() if line.strip()[:3].isdigit()]
    assert searched == [["100", "local"], ["100", "edge"], ["300", "edge"]]
    assert (tmp_path / "latency.png").read_bytes().startswith(b"\x89PNG")
    figures = json.loads((tmp_path / "retrieval.json").read_text())["figures"]
    assert [row["backend"] for row in figures["search"]] == ["local", "edge", "edge"]
    assert all(row["memory_mib"] > 0 and row["latency_ms"]["p50"] > 0 for row in figures["search"])
    # every timed search also timed inside the retriever, where it takes less than through HTTP
    for row in figures["search"]:
        assert row["server_latency_ms"]["n"] == 5 and 0 < row["server_latency_ms"]["p50"] < row["latency_ms"]["p50"]


def run_command(module: str, *arguments: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "TUTORBOOK_DATA_DIR": str(data_dir),
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
        "TUTORBOOK_MODEL_CACHE_DIR": str(MODEL_CACHE),
    }
    command = [sys.executable, "-m", module, *arguments]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=300)


def test_the_retrieval_evaluation_command_prints_its_table_and_draws_its_chart(tmp_path: Path) -> None:
    chart = tmp_path / "chart.png"
    result = run_command(
        "tutorbook_evals.retrieval", "samples", "--data", str(SAMPLES), "--plot", str(chart), data_dir=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert all(row in result.stdout for row in ("dense only", "BM25 only", "hybrid (score)", "hybrid (RRF)"))
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_the_retrieval_evaluation_scores_exact_search_and_a_graph_side_by_side(tmp_path: Path) -> None:
    """With the graph setting at 0 (exact) and at 20 chunks (a graph built by the real build process during
    ingestion and waited for): one result file, by setting, and on 36 chunks the same figures (to one
    question: chunk ids are random, and break ties among equal scores differently in each run)."""
    figures_file = tmp_path / "figures.json"
    result = run_command(
        "tutorbook_evals.retrieval", "samples", "--data", str(SAMPLES), "--graph-after-chunks", "0", "20",
        "--json", str(figures_file), data_dir=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    by_setting = json.loads(figures_file.read_text())["figures"]["graph_after_chunks"]
    assert set(by_setting) == {"0", "20"}
    exact, graph = (by_setting[key]["int8"]["retrievals"] for key in ("0", "20"))
    assert graph.keys() == exact.keys()
    for retrieval, scores in exact.items():
        assert all(abs(graph[retrieval]["recall"][k] - recall) <= 0.02 for k, recall in scores["recall"].items())


def test_the_semantic_cache_evaluation_command_prints_a_row_per_threshold(tmp_path: Path) -> None:
    result = run_command("tutorbook_evals.semantic_cache", "--samples", str(SAMPLES), data_dir=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.strip()[:4].replace(".", "").isdigit()]
    assert len(rows) >= 3 and "threshold" in result.stdout
    assert "lowest wrong-free threshold" in result.stdout or "no threshold is free" in result.stdout


def test_the_second_stage_evaluation_trains_a_reranker_and_scores_every_lever_on_the_same_candidates(
    tmp_path: Path,
) -> None:
    """A cross-encoder trained on groups mined from the sample documents (a few, one epoch, to stay quick),
    kept in a folder with its manifest, and every lever scored beside the first stage (which finds every
    sample question's page in its top 5, as the default hybrid search does)."""
    figures_file, kept = tmp_path / "figures.json", tmp_path / "reranker"
    result = run_command(
        "tutorbook_evals.retrieval_rerank", "samples", "--data", str(SAMPLES), "--cross-encoder", "--max-groups",
        "4", "--epochs", "1", "--save", str(kept), "--json", str(figures_file), data_dir=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(figures_file.read_text())["figures"]
    assert figures["training"]["groups"] == 4 and figures["cross_encoder_ms"]["pairs"] == [10]
    assert set(figures["retrievals"]) == {
        "hybrid-score", "title field 0.2", "title field 0.4", "page evidence 0.1", "page evidence 0.3",
        "cross-encoder top 10 at 0.3", "cross-encoder top 10 at 1.0",
    }  # fmt: skip
    assert figures["retrievals"]["hybrid-score"]["recall"]["5"] == 1.0
    assert json.loads((kept / "reranker.json").read_text())["corpus"] == "samples"
    assert (kept / "model.safetensors").is_file()
