"""make eval-tutors: a rerun of one label set keeps the others, each with its own date and commit."""

import json
from pathlib import Path

from tutorbook_evals.tutors import earlier_sets

MEASURED = {"date": "2026-12-06T09:29:29+00:00", "commit": "531c909"}


def test_a_rerun_of_one_set_keeps_the_others_with_when_they_were_measured(tmp_path: Path) -> None:
    path = tmp_path / "tutors.json"
    sets = {
        "support-triage": {"labels": 5, "measured": MEASURED},
        "support-intents": {"labels": 24, "measured": MEASURED},
        "banking77-20": {"labels": 20},  # from before sets were stamped: not kept, it cannot say when
    }
    path.write_text(json.dumps({"figures": {"sets": sets}}))
    kept = earlier_sets(path, ["support-intents"])
    assert kept == {"support-triage": {"labels": 5, "measured": MEASURED}}


def test_no_earlier_file_or_an_unreadable_one_keeps_nothing(tmp_path: Path) -> None:
    assert earlier_sets(tmp_path / "missing.json", []) == {}
    (tmp_path / "broken.json").write_text("{not json")
    assert earlier_sets(tmp_path / "broken.json", []) == {}
