"""``tutorbook-eval-semantic-cache``: how often the semantic cache would answer wrongly, per threshold.

Two measurements on the sample questions, with the retriever's embedder (the semantic cache compares
question embeddings by cosine similarity):

- wrong hits: each of the 51 distinct questions (different answers, many about the same product) asked
  while the other 50 are cached: a hit serves another question's answer;
- contrast questions (``samples/contrast_questions.jsonl``): 20 questions one detail away from a sample
  question (another model, another number) whose answers differ: any hit is wrong;
- right hits: 25 rewordings of sample questions (``samples/paraphrases.jsonl``) asked while all 51 are
  cached: a hit on the original is right, a hit on any other question is wrong.

The semantic cache stays off by default until a threshold serves rewordings without wrong hits.
"""

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tutorbook_retriever.clients.embedder import Embedder
from tutorbook_retriever.settings import RetrieverSettings
from tutorbook_retriever.wiring import open_embedder

REPO_ROOT = Path(__file__).resolve().parents[3]
THRESHOLDS = (0.80, 0.85, 0.90, 0.92, 0.95, 0.97)


@dataclass(frozen=True)
class ThresholdResult:
    threshold: float
    distinct_wrong: int
    distinct_total: int
    contrast_wrong: int
    contrast_total: int
    paraphrase_right: int
    paraphrase_wrong: int
    paraphrase_total: int


def unit_vectors(embedder: Embedder, texts: list[str]) -> np.ndarray:
    vectors = np.asarray(embedder.embed(texts), dtype=np.float64)
    normalised: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return normalised


def evaluate_thresholds(
    questions: dict[str, str], paraphrases: list[tuple[str, str]], contrasts: list[str], embedder: Embedder
) -> list[ThresholdResult]:
    ids = list(questions)
    cached = unit_vectors(embedder, [questions[qid] for qid in ids])
    asked = unit_vectors(embedder, [text for _, text in paraphrases])
    contrast_best = (unit_vectors(embedder, contrasts) @ cached.T).max(axis=1)
    among_questions = cached @ cached.T
    np.fill_diagonal(among_questions, -1.0)  # a question is never its own neighbour here
    nearest_other = among_questions.max(axis=1)
    paraphrase_scores = asked @ cached.T
    best = paraphrase_scores.argmax(axis=1)
    best_score = paraphrase_scores.max(axis=1)
    right_target = np.array([ids[index] == qid for index, (qid, _) in zip(best, paraphrases, strict=True)])
    results = []
    for threshold in THRESHOLDS:
        hit = best_score >= threshold
        results.append(
            ThresholdResult(
                threshold=threshold,
                distinct_wrong=int((nearest_other >= threshold).sum()),
                distinct_total=len(ids),
                contrast_wrong=int((contrast_best >= threshold).sum()),
                contrast_total=len(contrasts),
                paraphrase_right=int((hit & right_target).sum()),
                paraphrase_wrong=int((hit & ~right_target).sum()),
                paraphrase_total=len(paraphrases),
            )
        )
    return results


def format_results(results: list[ThresholdResult]) -> str:
    lines = [
        "           answered with another question's answer (wrong)    rewordings answered",
        f"{'threshold':>9}  {'distinct':>12}  {'contrast':>12}  {'rewordings':>12}  {'right':>12}",
    ]
    for r in results:
        lines.append(
            f"{r.threshold:>9.2f}  {r.distinct_wrong:>7} / {r.distinct_total:<2}  {r.contrast_wrong:>7} / "
            f"{r.contrast_total:<2}  {r.paraphrase_wrong:>7} / {r.paraphrase_total:<2}  "
            f"{r.paraphrase_right:>7} / {r.paraphrase_total:<2}"
        )
    safe = [r for r in results if r.distinct_wrong == 0 and r.paraphrase_wrong == 0 and r.contrast_wrong == 0]
    if safe:
        best = max(safe, key=lambda r: r.paraphrase_right)
        lines.append(
            f"lowest wrong-free threshold: {min(r.threshold for r in safe):.2f}; at {best.threshold:.2f} it "
            f"answers {best.paraphrase_right} of {best.paraphrase_total} rewordings from the cache"
        )
    else:
        lines.append("no threshold is free of wrong hits")
    return "\n".join(lines)


def read_jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load(samples: Path) -> tuple[dict[str, str], list[tuple[str, str]], list[str]]:
    questions = {row["id"]: row["question"] for row in read_jsonl(samples / "questions.jsonl")}
    rewordings = [(row["id"], row["question"]) for row in read_jsonl(samples / "paraphrases.jsonl")]
    contrasts = [row["question"] for row in read_jsonl(samples / "contrast_questions.jsonl")]
    return questions, rewordings, contrasts


def main() -> None:
    parser = argparse.ArgumentParser(prog="tutorbook-eval-semantic-cache", description=__doc__)
    parser.add_argument("--samples", type=Path, default=REPO_ROOT / "samples")
    args = parser.parse_args()
    questions, paraphrases, contrasts = load(args.samples)
    embedder = open_embedder(RetrieverSettings())
    print(format_results(evaluate_thresholds(questions, paraphrases, contrasts, embedder)))


if __name__ == "__main__":
    main()
