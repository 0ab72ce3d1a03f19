"""The routing set's val and test splits share no request (compared after normalising case, punctuation and
spacing), and neither holds a request the router has seen: its own route examples, or the demo adapter's.
On the real sample files, and on a small CLINC150 written here (the real one is checked in
tests/integration/test_routing_evaluation.py)."""

import json
import random
from pathlib import Path

from tests.conftest import SAMPLES
from tutorbook_evals.routing_set import (
    SMALL_TALK_PER_INTENT,
    RoutingCase,
    halves,
    normalised,
    router_examples,
    routing_cases,
    sample_cases,
)

SAMPLE_SOURCES = {"samples/questions", "samples/support_triage/test", "samples/out_of_scope"}


def texts(cases: list[RoutingCase]) -> set[str]:
    return {normalised(case.text) for case in cases}


def test_normalising_ignores_case_punctuation_and_spacing() -> None:
    assert normalised("Thanks for your help!") == normalised("thanks   for your help") == "thanks for your help"
    assert normalised("Hey, what's up?") == normalised("hey whats up") == "hey whats up"
    assert normalised("Are you a robot?") == normalised("ARE YOU A ROBOT") != normalised("are you a robot too")


def test_a_file_is_halved_by_group_the_same_way_whatever_the_row_order() -> None:
    rows = [{"text": f"message {n} about {label}", "label": label} for label in "abc" for n in range(5)]
    rows.append({"text": "Message 0 about a!", "label": "a"})  # the same request as another, written differently
    split = halves(rows, lambda row: row["text"], lambda row: row["label"])
    val, test = ({normalised(row["text"]) for row in split[half]} for half in ("val", "test"))
    shuffled = halves(random.Random(1).sample(rows, len(rows)), lambda row: row["text"], lambda row: row["label"])
    assert [{normalised(row["text"]) for row in shuffled[half]} for half in ("val", "test")] == [val, test]
    assert not val & test and len(val | test) == 15  # the duplicate counted once
    for label in "abc":  # 5 per label: 3 and 2, the odd one alternating between the halves
        assert {sum(row["label"] == label for row in split[half]) for half in ("val", "test")} == {2, 3}
    assert abs(len(split["val"]) - len(split["test"])) <= 1


def test_the_sample_files_split_into_halves_that_share_nothing_and_the_router_never_saw() -> None:
    val, test = sample_cases(SAMPLES, "val"), sample_cases(SAMPLES, "test")
    assert not texts(val) & texts(test)
    assert not (texts(val) | texts(test)) & router_examples(SAMPLES)
    for source in SAMPLE_SOURCES:
        in_val = sum(case.source == source for case in val)
        in_test = sum(case.source == source for case in test)
        assert in_val > 0 and in_test > 0 and abs(in_val - in_test) <= 1, source


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def small_world(tmp_path: Path) -> tuple[Path, Path]:
    """Sample files and a CLINC150 with every kind of overlap the split must remove."""
    samples, clinc = tmp_path / "samples", tmp_path / "clinc150"
    triage_train = [{"text": "Route this: my parcel is lost", "label": "shipping"}]
    write_jsonl(samples / "support_triage" / "train.jsonl", triage_train)
    triage = [{"text": f"Route this: ticket {n}", "label": "shipping" if n % 2 else "billing"} for n in range(8)]
    write_jsonl(samples / "support_triage" / "test.jsonl", triage)
    questions = [{"question": f"What does product {n} cost?", "doc_id": f"doc-{n % 3}"} for n in range(9)]
    questions.append({"question": "route this, my parcel is LOST.", "doc_id": "doc-0"})  # a demo route example
    write_jsonl(samples / "questions.jsonl", questions)
    write_jsonl(samples / "out_of_scope.jsonl", [{"question": f"Capital of country {n}?"} for n in range(4)])
    # Each test intent: 4 fresh queries, one the router's own small-talk example, one also a val query.
    data: dict[str, list[list[str]]] = {"train": [], "oos_train": []}
    data["val"] = [[f"{intent} val {n}", intent] for intent in ("greeting", "thanks") for n in range(6)]
    data["val"] += [["Hi!", "greeting"], ["Book a flight to Oslo.", "book_flight"]]  # a router example; not small talk
    data["test"] = [[f"{intent} test {n}", intent] for intent in ("greeting", "thanks") for n in range(4)]
    data["test"] += [["Thanks for your help!", "thanks"], ["Hello there", "greeting"]]  # the router's examples
    data["test"] += [["GREETING VAL 0", "greeting"], ["thanks, val 1", "thanks"]]  # val queries, written differently
    data["oos_val"] = [[f"oos val {n}", "oos"] for n in range(60)]
    data["oos_test"] = [[f"oos test {n}", "oos"] for n in range(49)] + [["book a flight to oslo", "oos"]]  # 50 with it
    clinc.mkdir()
    (clinc / "data_full.json").write_text(json.dumps(data), encoding="utf-8")
    (clinc / "domains.json").write_text(json.dumps({"small_talk": ["greeting", "thanks"]}), encoding="utf-8")
    return samples, clinc


def test_val_and_test_share_nothing_and_hold_nothing_the_router_has_seen(tmp_path: Path) -> None:
    samples, clinc = small_world(tmp_path)
    val, test = routing_cases(samples, clinc, "val"), routing_cases(samples, clinc, "test")
    assert not texts(val) & texts(test)
    seen = router_examples(samples)
    assert {"thanks for your help", "hello there", "hi", "route this my parcel is lost"} <= seen
    assert not texts(val) & seen and not texts(test) & seen
    assert not texts(test) & {"greeting val 0", "thanks val 1", "book a flight to oslo"}  # val queries, sampled or not
    for cases in (val, test):
        assert len(texts(cases)) == len(cases)  # no request twice within a split either
        for source in SAMPLE_SOURCES:
            assert any(case.source == source for case in cases), source
        for intent in ("greeting", "thanks"):  # still 4 per intent, sampled from what is left
            assert sum(case.source.endswith(f" {intent}") for case in cases) == SMALL_TALK_PER_INTENT
    assert [sum(case.source.startswith("clinc150 oos_") for case in cases) for cases in (val, test)] == [50, 49]
    assert routing_cases(samples, clinc, "test") == test  # the same on every call
