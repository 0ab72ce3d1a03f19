from collections.abc import Sequence

import pytest

from tests.unit.conftest import STORE_DIMENSION
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.ingestion import IngestLimits, content_hash, ingest_documents, validate_documents
from tutorbook_retriever.schemas import DocumentIn
from tutorbook_service.errors import BadRequestError, PayloadTooLargeError

LIMITS = IngestLimits(max_documents=3, max_document_chars=100, chunk_max_tokens=50, chunk_overlap_tokens=0)


def doc(doc_id: str = "a", text: str = "hello", **metadata: object) -> DocumentIn:
    return DocumentIn(id=doc_id, text=text, metadata=dict(metadata))


@pytest.mark.parametrize(
    ("documents", "error", "param"),
    [
        ([], BadRequestError, "documents"),
        ([doc("a"), doc("b"), doc("c"), doc("d")], PayloadTooLargeError, "documents"),
        ([doc("")], BadRequestError, "documents[0].id"),
        ([doc("../etc")], BadRequestError, "documents[0].id"),
        ([doc("a"), doc("a")], BadRequestError, "documents[1].id"),
        ([doc(text="   ")], BadRequestError, "documents[0].text"),
        ([doc(text="x" * 101)], PayloadTooLargeError, "documents[0].text"),
        ([doc(tags=["a"])], BadRequestError, "documents[0].metadata"),
        ([doc("a"), DocumentIn(id="b", text="x", access=[])], BadRequestError, "documents[1].access"),
        ([DocumentIn(id="a", text="x", access=["Team A"])], BadRequestError, "documents[0].access"),
        ([DocumentIn(id="a", text="x", access=["team-a", "team-a"])], BadRequestError, "documents[0].access"),
        ([DocumentIn(id="a", text="x", access=[f"t{n}" for n in range(51)])], BadRequestError, "documents[0].access"),
    ],
)
def test_bad_batches_are_refused_with_the_field_named(
    documents: list[DocumentIn], error: type[Exception], param: str
) -> None:
    with pytest.raises(error) as caught:
        validate_documents(documents, LIMITS)
    assert caught.value.param == param  # type: ignore[attr-defined]


class OneAxisEmbedder:
    dimension = STORE_DIMENSION

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [[1.0, 0.0, 0.0] for _ in texts]


def test_a_good_batch_passes(retriever_store: Store) -> None:
    """Every document at a limit (as many as allowed, the longest text, id and title, every scalar kind of
    metadata, a team beside public): validated, then ingested whole, each exactly as sent."""
    batch = [
        doc("product/a-1", category="tv", price=10.5, new=True, count=3, note=None),
        DocumentIn(id="a", text="x", access=["team-a", "public"]),
        DocumentIn(id="A" + "._:/@-" * 33 + "9", text="y" * 100, title="t" * 500),
    ]
    assert len(batch) == LIMITS.max_documents and len(batch[2].id) == 200
    validate_documents(batch, LIMITS)  # raises nothing
    result = ingest_documents(batch, OneAxisEmbedder(), retriever_store, LIMITS)
    assert [(outcome.doc_id, outcome.status) for outcome in result.outcomes] == [(d.id, "created") for d in batch]
    for document in batch:
        record = retriever_store.registry.get(document.id)
        assert record is not None and record.chunks >= 1
        assert (record.metadata, record.access) == (document.metadata, sorted(document.access))
        assert record.content_hash == content_hash(document)


def test_content_hash_changes_with_any_part() -> None:
    base = content_hash(doc())
    assert base == content_hash(doc())
    assert base != content_hash(doc(text="hello!"))
    assert base != content_hash(doc(lang="en"))
    assert base != content_hash(DocumentIn(id="a", text="hello", access=["team-a"]))
