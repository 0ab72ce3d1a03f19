"""The semantic cache's wrong-hit measurement (real embedder): the reason it is off by default."""

from tests.conftest import SAMPLES
from tutorbook_evals.semantic_cache import evaluate_thresholds, format_results, load
from tutorbook_gateway.settings import GatewaySettings
from tutorbook_retriever.clients.embedder import SentenceTransformerEmbedder


def test_the_default_threshold_answers_no_question_wrongly(embedder: SentenceTransformerEmbedder) -> None:
    questions, paraphrases, contrasts = load(SAMPLES)
    results = {result.threshold: result for result in evaluate_thresholds(questions, paraphrases, contrasts, embedder)}
    default = GatewaySettings()
    assert not default.cache.semantic_enabled
    at_default = results[default.cache.semantic_min_similarity]
    assert (at_default.distinct_wrong, at_default.contrast_wrong, at_default.paraphrase_wrong) == (0, 0, 0)
    assert results[0.90].contrast_wrong > 0  # looser thresholds do answer near-miss questions wrongly
    print(format_results(list(results.values())))
