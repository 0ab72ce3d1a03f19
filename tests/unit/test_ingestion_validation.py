import pytest

from tutorbook_retriever.ingestion import IngestLimits, content_hash, validate_documents
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


def test_a_good_batch_passes() -> None:
    validate_documents([doc("product/a-1", category="tv", price=10.5, new=True, note=None)], LIMITS)
    validate_documents([DocumentIn(id="a", text="x", access=["team-a", "public"])], LIMITS)


def test_content_hash_changes_with_any_part() -> None:
    base = content_hash(doc())
    assert base == content_hash(doc())
    assert base != content_hash(doc(text="hello!"))
    assert base != content_hash(doc(lang="en"))
    assert base != content_hash(DocumentIn(id="a", text="hello", access=["team-a"]))
