"""The figure tables in the docs are written from the result files, and a stale page is found; figures typed
in prose match the files they name; docs/benchmarks.md is what its committed record and files write."""

import json
from pathlib import Path

import pytest

from tutorbook_devstack.bench_all import Outputs, recorded_page
from tutorbook_evals.doc_figures import REPO_ROOT, filled, provenance, stale_pages
from tutorbook_evals.doc_quotes import disagreements

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


def test_a_figure_typed_in_prose_must_equal_the_file_it_names(tmp_path: Path) -> None:
    (tmp_path / "data/eval").mkdir(parents=True)
    (tmp_path / "data/eval/tutors.json").write_text(json.dumps(ACCURACY))
    where = "data/eval/tutors.json figures.sets.support-triage"
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs/adapters.md"
    page.write_text(
        f"By code it is 0.875<!-- = {where}.code.served.accuracy --> against "
        f"85.0%<!-- = {where}.label.served.accuracy --> by label, on 40<!-- = {where}.test --> texts.\n"
    )
    assert disagreements(tmp_path) == []
    page.write_text(f"Then:\nby code it was 0.880<!-- = {where}.code.served.accuracy -->.\n")
    assert disagreements(tmp_path) == [
        "docs/adapters.md:2: 0.880 differs from data/eval/tutors.json "
        "figures.sets.support-triage.code.served.accuracy: 0.875"
    ]
    page.write_text(f"Gone: 1.0<!-- = {where}.code.served.f1 -->.\n")
    assert "cannot be read" in disagreements(tmp_path)[0]


def test_the_docs_prose_quotes_its_result_files() -> None:
    assert disagreements(REPO_ROOT) == []


def test_a_quote_inside_a_code_block_is_refused_since_it_would_show(tmp_path: Path) -> None:
    (tmp_path / "data/eval").mkdir(parents=True)
    (tmp_path / "data/eval/tutors.json").write_text(json.dumps(ACCURACY))
    (tmp_path / "README.md").write_text(
        "```\n40<!-- = data/eval/tutors.json figures.sets.support-triage.test --> texts\n```\n"
    )
    assert disagreements(tmp_path) == ["README.md:2: a quote inside a code block shows as text; quote in prose"]


def test_the_benchmarks_page_is_what_the_committed_record_and_result_files_write() -> None:
    outputs = Outputs(Path("data/bench"), Path("docs/images"), Path("docs/benchmarks.md"))
    written = recorded_page(REPO_ROOT, outputs)
    assert written == (REPO_ROOT / "docs/benchmarks.md").read_text(), "run `make bench`, or bench_all --render-only"


def test_a_quote_whose_number_cannot_be_read_is_reported_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("It holds 420 m³ a minute<!-- = data/x.json figures.volume -->.\n")
    assert disagreements(tmp_path) == [
        "README.md:1: a quote with no number right before it (the number, then at most 4 characters of unit, "
        "then the comment)"
    ]


def test_a_tables_source_line_names_the_cpu_and_what_inference_can_use_where_the_file_records_them() -> None:
    recorded = {"command": "make bench", "date": "2026-12-07T14:00:00", "commit": "abc1234"}
    older = provenance({**recorded, "machine": {"cores": 2, "processor": "x86_64"}}, "data/bench/x.json")
    assert "on 2 cores, x86_64;" in older
    machine = {"cores": 2, "processor": "x86_64", "cpu": "Intel(R) Xeon(R) Processor @ 2.80GHz", "cpu_flags": ["avx2"]}
    newer = provenance({**recorded, "machine": machine}, "data/bench/x.json")
    assert "on 2 cores, Intel(R) Xeon(R) Processor @ 2.80GHz (avx2);" in newer
