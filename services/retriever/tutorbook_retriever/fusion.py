"""Fusing the dense and lexical result lists into one ranking.

- ``score`` (default): each signal's scores are divided by that signal's best score for the query, then
  averaged with weights (a convex combination). Measured on three corpora (samples, E-Manual S10 and TV)
  it beats reciprocal rank fusion, which throws away how far apart the scores are.
- ``rrf``: reciprocal rank fusion, sum of 1 / (k + rank) (Cormack et al., 2009).
"""

from collections.abc import Sequence


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = 60) -> list[tuple[str, float]]:
    """Ids with their fused score, best first; ties keep the order in which ids were first seen."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


def max_normalised(scores: dict[str, float]) -> dict[str, float]:
    best = max(scores.values(), default=0.0)
    if best <= 0:
        return {item: 0.0 for item in scores}
    return {item: max(score, 0.0) / best for item, score in scores.items()}


def weighted_score_fusion(signals: Sequence[dict[str, float]], weights: Sequence[float]) -> list[tuple[str, float]]:
    """Ids with their fused score in [0, 1], best first. An id missing from a signal scores 0 there."""
    fused: dict[str, float] = {}
    total = sum(weights) or 1.0
    for scores, weight in zip(signals, weights, strict=True):
        for item, score in max_normalised(scores).items():
            fused[item] = fused.get(item, 0.0) + weight * score / total
    return sorted(fused.items(), key=lambda pair: -pair[1])
