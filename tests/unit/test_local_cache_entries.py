"""The entries a gateway process keeps: bounded (least recently used go first), served only while alive
and, for answers that depend on the index, only at the version they were computed at."""

import time

import pytest

from tutorbook_gateway.chat.answer_cache import LocalEntries
from tutorbook_gateway.state.cache import CachedAnswer


def answer(version: int | None) -> CachedAnswer:
    return CachedAnswer({"id": "c", "choices": []}, version)


def test_entries_are_served_only_at_their_index_version() -> None:
    entries = LocalEntries(max_entries=10, ttl_seconds=60)
    entries.keep("rag", answer(7))
    entries.keep("named", answer(None))
    assert entries.fresh("rag", versioned=True, index_version=7) == answer(7)
    assert entries.fresh("rag", versioned=True, index_version=8) is None
    assert entries.fresh("rag", versioned=True, index_version=None) is None  # version unknown: ask the store
    assert entries.fresh("named", versioned=False, index_version=None) == answer(None)


def test_the_least_recently_used_entry_goes_first_and_none_outlive_the_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = LocalEntries(max_entries=2, ttl_seconds=60)
    entries.keep("a", answer(None))
    entries.keep("b", answer(None))
    entries.fresh("a", versioned=False, index_version=None)  # a is used: b is now the oldest
    entries.keep("c", answer(None))
    assert [entries.fresh(key, False, None) is not None for key in "abc"] == [True, False, True]
    short = LocalEntries(max_entries=2, ttl_seconds=10)
    short.keep("a", answer(None))
    kept_at = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: kept_at + 9)
    assert short.fresh("a", versioned=False, index_version=None) is not None
    monkeypatch.setattr(time, "monotonic", lambda: kept_at + 11)  # the clock moves; no test sleeps
    assert short.fresh("a", versioned=False, index_version=None) is None
    assert LocalEntries(max_entries=0, ttl_seconds=60).fresh("a", False, None) is None
