"""The claim check's scoring in the retriever: passage sentences are embedded once, then kept (bounded)."""

from collections.abc import Sequence

import pytest

from tutorbook_retriever.sentence_vectors import SentenceVectors

VECTORS = {"a": [1.0, 0.0], "b": [0.0, 2.0], "c": [1.0, 1.0], "q": [3.0, 0.0]}


class CountingEmbedder:
    dimension = 2

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.embedded += texts
        return [VECTORS[text] for text in texts]


def test_scores_are_cosines_and_kept_candidates_are_not_embedded_again() -> None:
    embedder, kept = CountingEmbedder(), SentenceVectors(capacity=10)
    first = kept.similarities(embedder, ["q"], ["a", "b", "c"])
    assert first[0].tolist() == pytest.approx([1.0, 0.0, 2**-0.5], abs=1e-6)
    embedder.embedded.clear()
    again = kept.similarities(embedder, ["q"], ["c", "a"])
    assert embedder.embedded == ["q"] and again[0].tolist() == pytest.approx([2**-0.5, 1.0], abs=1e-6)


def test_the_least_recently_used_sentences_go_first_past_the_capacity() -> None:
    embedder, kept = CountingEmbedder(), SentenceVectors(capacity=2)
    kept.similarities(embedder, ["q"], ["a", "b"])
    kept.similarities(embedder, ["q"], ["a"])  # a is used again: b is now the oldest
    kept.similarities(embedder, ["q"], ["c"])
    assert len(kept) == 2
    embedder.embedded.clear()
    kept.similarities(embedder, ["q"], ["a", "b"])
    assert embedder.embedded == ["q", "b"]


def test_a_capacity_of_zero_keeps_nothing() -> None:
    embedder, kept = CountingEmbedder(), SentenceVectors(capacity=0)
    kept.similarities(embedder, ["q"], ["a"])
    assert len(kept) == 0
