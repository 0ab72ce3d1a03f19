"""What the served-search benchmark searches, and how it reads the retriever's own time for each search."""

import json
from pathlib import Path

from tutorbook_evals.bench_search import planned_searches, server_side_ms


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
    log.write_text("starting up\n" + "\n".join(json.dumps(line) for line in lines) + "\n")
    assert server_side_ms(log) == {"plain": [4.5, 3.75], "filtered": [5.25]}
