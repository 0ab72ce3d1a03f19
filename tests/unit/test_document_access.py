"""Who may see a document, without I/O: the access rule, the content hash, the filters each Qdrant backend
is asked to apply, the answered-question filter, and the front matter / access parsing of tutorbook-ingest."""

import argparse
import hashlib
from typing import Any

import pytest
from qdrant_client import models
from qdrant_edge import IsEmptyCondition

from tutorbook_retriever.access import may_see, parse_visible_to, validate_access, validate_team
from tutorbook_retriever.clients import chunk_index
from tutorbook_retriever.clients.edge import chunks as edge_chunks
from tutorbook_retriever.clients.question_index import servable
from tutorbook_retriever.ingest_cli import access_argument, with_default_access
from tutorbook_retriever.ingestion import content_hash
from tutorbook_retriever.loaders import LoadError, parse_access, record_access, split_front_matter
from tutorbook_retriever.schemas import DocumentIn
from tutorbook_service.errors import BadRequestError


@pytest.mark.parametrize(
    ("entries", "fine"),
    [
        (["public"], True),
        (["team-a", "public"], True),
        ([f"team-{n}" for n in range(50)], True),
        (["a" * 63], True),
        ([], False),
        ([f"team-{n}" for n in range(51)], False),
        (["team-a", "team-a"], False),
        (["Team-A"], False),
        (["team a"], False),
        (["-team"], False),
        (["a" * 64], False),
        ([""], False),
    ],
)
def test_an_access_list_holds_1_to_50_distinct_public_or_team_names(entries: list[str], fine: bool) -> None:
    if fine:
        validate_access(entries, "documents[0].access")
        return
    with pytest.raises(BadRequestError) as caught:
        validate_access(entries, "documents[0].access")
    assert caught.value.param == "documents[0].access"


@pytest.mark.parametrize(
    ("access", "visible_to", "seen"),
    [
        (["team-a"], ["team-b", "public"], False),
        (["team-a"], ["team-a", "public"], True),
        (["public"], ["team-b", "public"], True),
        (["team-a", "team-b"], ["team-b"], True),
        ([], ["team-b"], True),  # registered before access lists: public
        (["team-a"], None, True),  # no visible_to: an admin, sees everything
    ],
)
def test_a_document_is_seen_when_its_access_names_one_of_the_callers_or_none(
    access: list[str], visible_to: list[str] | None, seen: bool
) -> None:
    assert may_see(access, visible_to) is seen


def test_visible_to_is_comma_separated_and_validated_like_access() -> None:
    assert parse_visible_to(None) is None
    assert parse_visible_to("team-a, public") == ["team-a", "public"]
    for bad in ("", "team-a,,public", "Team-A"):
        with pytest.raises(BadRequestError) as caught:
            parse_visible_to(bad)
        assert caught.value.param == "visible_to"
    with pytest.raises(BadRequestError) as refused:
        validate_team("Team A")
    assert refused.value.param == "team"
    validate_team("")  # an answered question for no team


def document(**fields: Any) -> DocumentIn:
    return DocumentIn(id="handbook", text="The handbook.", title="Handbook", **fields)


def test_an_access_only_change_changes_the_hash_and_a_public_document_keeps_its_earlier_hash() -> None:
    public = content_hash(document())
    assert content_hash(document(access=["team-a"])) != public
    assert content_hash(document(access=["team-a", "public"])) not in {
        public,
        content_hash(document(access=["team-a"])),
    }
    assert content_hash(document(access=["public", "team-a"])) == content_hash(document(access=["team-a", "public"]))
    assert content_hash(document(access=["public"])) == public
    # what documents ingested before access lists carry: re-ingesting them unchanged does no work
    earlier = hashlib.sha256()
    for part in ("Handbook", "The handbook.", "{}"):
        earlier.update(part.encode() + b"\0")
    assert public == earlier.hexdigest()


def test_the_server_backend_filters_access_inside_qdrant_beside_the_metadata() -> None:
    built = chunk_index.chunk_filter({"product": "s7"}, ["team-b", "public"])
    assert built == models.Filter(
        must=[models.FieldCondition(key="metadata.product", match=models.MatchValue(value="s7"))],
        should=[
            models.FieldCondition(key="access", match=models.MatchAny(any=["team-b", "public"])),
            models.IsEmptyCondition(is_empty=models.PayloadField(key="access")),
        ],
    )
    only_access = chunk_index.chunk_filter({}, ["team-b", "public"])
    assert only_access is not None and only_access.must is None
    assert only_access.should == built.should
    assert chunk_index.chunk_filter({}, None) is None  # no visible_to: no filter, as before
    assert chunk_index.chunk_filter({"product": "s7"}, None) == chunk_index.metadata_filter({"product": "s7"})


def test_the_edge_backend_builds_the_same_filter_in_its_own_types() -> None:
    built = edge_chunks.chunk_filter({"product": "s7"}, ["team-b", "public"])
    assert built is not None
    must: list[Any] = list(built.must or [])
    should: list[Any] = list(built.should or [])
    assert [condition.key for condition in must] == ["metadata.product"]
    matches_any, is_empty = should
    assert (matches_any.key, list(matches_any.match.value)) == ("access", ["team-b", "public"])
    assert isinstance(is_empty, IsEmptyCondition) and is_empty.key == "access"
    assert edge_chunks.chunk_filter({}, None) is None


def test_answered_questions_are_filtered_by_team_when_one_is_given() -> None:
    version = models.FieldCondition(key="index_version", match=models.MatchValue(value=7))
    team = models.FieldCondition(key="team", match=models.MatchValue(value="team-a"))
    assert servable(7, "team-a") == models.Filter(must=[version, team])
    assert servable(7, None) == models.Filter(must=[version])


@pytest.mark.parametrize(
    ("text", "fields", "body"),
    [
        (
            "---\ntitle: Payroll\naccess: [team-a, public]\n---\n# Pay\n",
            {"title": "Payroll", "access": "[team-a, public]"},
            "# Pay\n",
        ),
        ("---\naccess: team-a\nauthor: Ann\ntags:\n  - hr\n---\n\nBody", {"access": "team-a"}, "Body"),
        ("\ufeff---\ntitle: 'Quoted: yes'\n---\nBody", {"title": "'Quoted: yes'"}, "Body"),
        ("# No front matter\n---\n", {}, "# No front matter\n---\n"),
        ("---\ntitle: never closed\nBody", {}, "---\ntitle: never closed\nBody"),
        ("---\nA thematic break, then prose.\n---\nBody", {}, "---\nA thematic break, then prose.\n---\nBody"),
    ],
)
def test_front_matter_gives_title_and_access_and_is_stripped(text: str, fields: dict[str, str], body: str) -> None:
    assert split_front_matter(text) == (fields, body)


def test_access_values_are_read_from_brackets_commas_lists_and_quotes() -> None:
    assert parse_access("[team-a, public]") == ["team-a", "public"]
    assert parse_access("team-a,  'public'") == ["team-a", "public"]
    assert parse_access("[]") == []
    assert record_access(["team-a", " public"], "record 1") == ["team-a", "public"]
    assert record_access("team-a,public", "record 1") == ["team-a", "public"]
    with pytest.raises(LoadError, match="record 1"):
        record_access(7, "record 1")


def test_the_access_flag_applies_to_documents_without_their_own_and_is_checked_up_front() -> None:
    documents: list[dict[str, Any]] = [{"id": "a", "text": "x"}, {"id": "b", "text": "y", "access": ["team-b"]}]
    assert [d.get("access") for d in with_default_access(documents, ["team-a", "public"])] == [
        ["team-a", "public"],
        ["team-b"],
    ]
    assert with_default_access(documents, None) == documents
    assert access_argument("team-a,public") == ["team-a", "public"]
    with pytest.raises(argparse.ArgumentTypeError, match="--access"):
        access_argument("Team A")
