"""Retrieval quality: recall@k and MRR of dense, lexical and hybrid search on a corpus with gold answers."""

from collections.abc import Iterable
from dataclasses import dataclass

from tutorbook_retriever.schemas import SearchHit

CUTOFFS = (1, 5, 10)


@dataclass(frozen=True)
class RetrievalScores:
    recall: dict[int, float]
    mrr: float
    questions: int


def ranked_documents(hits: Iterable[SearchHit]) -> list[str]:
    """Document ids in rank order, each once (several chunks of one document count as one)."""
    return list(dict.fromkeys(hit.doc_id for hit in hits))


def score_rankings(
    rankings: list[list[str]], golds: list[frozenset[str]], cutoffs: tuple[int, ...] = CUTOFFS
) -> RetrievalScores:
    if not rankings:
        return RetrievalScores({k: 0.0 for k in cutoffs}, 0.0, 0)
    recall = {k: 0.0 for k in cutoffs}
    reciprocal_ranks = 0.0
    depth = max(cutoffs)
    for ranking, gold in zip(rankings, golds, strict=True):
        first = next((rank for rank, doc in enumerate(ranking[:depth], start=1) if doc in gold), None)
        if first is not None:
            reciprocal_ranks += 1.0 / first
            for k in cutoffs:
                recall[k] += first <= k
    count = len(rankings)
    return RetrievalScores({k: hits / count for k, hits in recall.items()}, reciprocal_ranks / count, count)
