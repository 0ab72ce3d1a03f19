import pytest

from tutorbook_evals.retrieval_scores import ranked_documents, score_rankings
from tutorbook_retriever import lexical
from tutorbook_retriever.fusion import reciprocal_rank_fusion, weighted_score_fusion
from tutorbook_retriever.schemas import SearchHit


def test_tokens_are_stemmed_lowercase_words_without_stop_words() -> None:
    assert lexical.tokenize("How do I reset the Filters?") == ["reset", "filter"]
    assert lexical.tokenize("Wi-Fi 2.4 GHz") == ["wi", "fi", "2.4", "ghz"]


def test_document_weights_saturate_with_repetition() -> None:
    once = lexical.document_vector("filter")
    many = lexical.document_vector("filter filter filter filter")
    assert once.indices == many.indices
    assert once.values[0] < many.values[0] < once.values[0] * (lexical.K1 + 1)


def test_query_vector_weighs_each_distinct_term_once() -> None:
    query = lexical.query_vector("filter filters light")
    assert len(query.indices) == 2 and query.values == [1.0, 1.0]
    assert lexical.query_vector("the and of").indices == []


def test_reciprocal_rank_fusion_rewards_agreement() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "c", "d"]], k=60)
    assert [item for item, _ in fused][:2] == ["b", "c"]


def test_score_fusion_keeps_score_gaps() -> None:
    # "a" is far ahead in dense, a close second in lexical: it wins, although RRF would tie it with "b".
    fused = weighted_score_fusion([{"a": 0.9, "b": 0.3}, {"b": 10.0, "a": 9.5}], [0.5, 0.5])
    assert [item for item, _ in fused] == ["a", "b"]
    assert fused[0][1] == pytest.approx(0.5 + 0.5 * 0.95)


def test_score_fusion_treats_missing_and_negative_scores_as_zero() -> None:
    fused = dict(weighted_score_fusion([{"a": 0.5, "b": -0.2}, {"c": 2.0}], [0.5, 0.5]))
    assert fused == {"a": 0.5, "b": 0.0, "c": 0.5}


def hit(doc_id: str) -> SearchHit:
    return SearchHit(doc_id=doc_id, chunk_id=f"{doc_id}#0", title="", section="", text="", score=1.0)


def test_rankings_count_each_document_once() -> None:
    assert ranked_documents([hit("a"), hit("a"), hit("b")]) == ["a", "b"]


def test_recall_and_mrr() -> None:
    scores = score_rankings([["x", "a"], ["b"], ["y", "z"]], [frozenset("a"), frozenset("b"), frozenset("c")])
    assert scores.recall == {1: pytest.approx(1 / 3), 5: pytest.approx(2 / 3), 10: pytest.approx(2 / 3)}
    assert scores.mrr == pytest.approx((0.5 + 1.0) / 3)
