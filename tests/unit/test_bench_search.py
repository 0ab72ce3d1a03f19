"""What the served-search benchmark searches, and how it reads the retriever's own time for each search."""

import json
from pathlib import Path

from tutorbook_evals.bench_search import (
    Searched,
    Served,
    permission_filter_summary,
    planned_searches,
    served_row,
    server_side_ms,
)


def test_local_mode_is_searched_only_up_to_its_largest_index() -> None:
    searches = planned_searches([1000, 100_000, 250_000], ["local", "edge"], local_largest=100_000)
    assert searches == [(1000, "local"), (1000, "edge"), (100_000, "local"), (100_000, "edge"), (250_000, "edge")]


def test_the_server_side_time_is_each_timed_search_by_kind(tmp_path: Path) -> None:
    lines = [
        {"message": "search", "request_id": "warm-plain-0", "duration_ms": 50.0},  # warm-up: not timed
        {"message": "search", "request_id": "timed-plain-0", "duration_ms": 4.5},
        {"message": "search", "request_id": "timed-filtered-0", "duration_ms": 5.25},
        {"message": "request", "request_id": "timed-plain-1", "duration_ms": 99.0},  # not a search line
        {"message": "search", "request_id": "timed-plain-1", "duration_ms": 3.75},
    ]
    log = tmp_path / "retriever.log"
    log.write_text("starting up\n123\nnull\n" + "\n".join(json.dumps(line) for line in lines) + "\n")
    assert server_side_ms(log) == {"plain": [4.5, 3.75], "filtered": [5.25]}


def test_the_permission_filter_target_is_judged_at_100000_chunks_when_larger_indexes_were_searched_too() -> None:
    def row(backend: str, chunks: int, filtered_ms: float) -> Served:
        return served_row(backend, chunks, Searched({"plain": [10.0], "filtered": [filtered_ms]}, {}, 900.0))

    summary = permission_filter_summary(
        [row("local", 100_000, 25.0), row("edge", 100_000, 11.0), row("edge", 250_000, 9.0)]
    )
    assert summary["target_chunks"] == 100_000
    assert summary["target_met"] == {"local": False, "edge": True}


def test_a_run_whose_log_lost_its_timings_keeps_its_other_figures() -> None:
    searched = Searched({"plain": [10.0, 12.0], "filtered": [11.0, 13.0]}, {"plain": [8.0], "filtered": []}, 900.0)
    row = served_row("edge", 1000, searched)
    assert row.latency_ms["p50"] == 11.0 and row.server_latency_ms["n"] == 1
    assert row.server_filtered_latency_ms == {"n": 0}
