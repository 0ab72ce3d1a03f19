"""The figure tables in the docs are written from the result files, and a stale page is found."""

import json
from pathlib import Path

import pytest

from tutorbook_evals.doc_figures import REPO_ROOT, filled, stale_pages

ACCURACY = {
    "benchmark": "tutors",
    "date": "2026-12-06T10:00:00+00:00",
    "command": "tutors.py --sets support-triage",
    "commit": "abc123",
    "machine": {"cores": 2, "processor": "x86_64"},
    "figures": {
        "sets": {
            "support-triage": {
                "labels": 5, "train": 80, "test": 40,
                "label": {"served": {"accuracy": 0.85, "calibration_error": 0.0675}},
                "code": {"served": {"accuracy": 0.875, "calibration_error": 0.1},
                         "reference": {"accuracy": 0.9, "calibration_error": 0.07}},
            }
        }
    },
}  # fmt: skip
PAGE = "Before.\n\n<!-- figures: tutor-accuracy -->\nold table\n<!-- /figures -->\n\nAfter.\n"


def test_a_block_is_written_from_its_file_with_where_the_figures_come_from(tmp_path: Path) -> None:
    (tmp_path / "data/eval").mkdir(parents=True)
    (tmp_path / "data/eval/tutors.json").write_text(json.dumps(ACCURACY))
    page = filled(PAGE, tmp_path)
    assert page.startswith("Before.\n\n<!-- figures: tutor-accuracy -->\n*Measured by `tutors.py --sets")
    assert "commit abc123, on 2 cores, x86_64" in page and "`data/eval/tutors.json`" in page
    assert "| support-triage | 5 | 80 | 40 | 0.850 (ECE 0.068) | 0.875 (ECE 0.100) | 0.900 (ECE 0.070) |" in page
    assert "old table" not in page and page.endswith("<!-- /figures -->\n\nAfter.\n")
    assert filled(page, tmp_path) == page  # written again: no change


def test_an_unknown_block_is_an_error_not_a_silent_skip(tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="unknown figures block 'tutor-speed'"):
        filled("<!-- figures: tutor-speed -->\n<!-- /figures -->\n", tmp_path)


def test_the_docs_quote_the_committed_result_files() -> None:
    assert stale_pages(REPO_ROOT, write=False) == [], "run `make doc-figures`"
