"""One comparison run per task kind: every path over the held-out examples, then the figures."""

import argparse
import random
import sys

import httpx

from tutorbook_evals.compare.baseline import embedding_classifier
from tutorbook_evals.compare.datasets import ClassificationSet, QASet
from tutorbook_evals.compare.paths import PATH_TITLES, classification_paths, pick_shots, qa_paths
from tutorbook_evals.compare.runner import gateway_client, run_path
from tutorbook_evals.compare.summary import classification_result, qa_result
from tutorbook_evals.retrieval_corpora import EvalQuestion
from tutorbook_gateway.advisor.measured import PathResult

Confidences = dict[str, list[tuple[float, bool]]]
QA_SHOTS = 3
INGEST_BATCH = 64


def run_seed() -> int:
    """A seed of its own for this run: part of the response cache's key, so every answer is generated."""
    return random.SystemRandom().randrange(1, 2**31)


def run_classification(
    dataset: ClassificationSet, args: argparse.Namespace, key: str
) -> tuple[list[PathResult], list[str], Confidences]:
    notes = [f"{len(dataset.labels)} labels, {len(dataset.train)} training and {len(dataset.test)} held-out texts"]
    adapter = args.adapter
    if args.train:
        from tutorbook_evals.compare.training import train_and_upload

        adapter, seconds = train_and_upload(dataset, adapter or args.dataset, args.base_model, args.gateway_url, key)
        notes.append(f"adapter {adapter!r} trained here in {seconds:.0f} s with the training CLI's defaults")
    shots = pick_shots(dataset, args.shots_per_label, args.max_shots, args.seed)
    notes.append(f"few-shot prompting: {len(shots)} solved examples from the training split")
    results, confidences = [], {}
    gold = [example.label for example in dataset.test]
    with gateway_client(args.gateway_url, key) as client:
        for path in classification_paths(dataset, args.base_model, adapter, shots, run_seed()):
            observations = run_path(client, path, [e.text for e in dataset.test], PATH_TITLES[path.name])
            result = classification_result(path.name, observations, dataset)
            results.append(result)
            scored = [
                (o.confidence, o.label == g)
                for o, g in zip(observations, gold, strict=True)
                if o.confidence is not None
            ]
            if scored:
                confidences[path.name] = scored
    baseline, note = baseline_result(dataset)
    results.append(baseline)
    notes.append(note)
    return results, notes, confidences


def baseline_result(dataset: ClassificationSet) -> tuple[PathResult, str]:
    from tutorbook_retriever.settings import RetrieverSettings
    from tutorbook_retriever.wiring import open_embedder

    print("embedding classifier (baseline): training", file=sys.stderr)
    observations, seconds = embedding_classifier(dataset, open_embedder(RetrieverSettings()))
    note = f"embedding classifier: logistic regression on the retriever's embeddings, trained in {seconds:.1f} s"
    return classification_result("embedding_classifier", observations, dataset), note


def ingest(dataset: QASet, gateway_url: str, key: str) -> None:
    import msgspec

    with httpx.Client(base_url=gateway_url, headers={"Authorization": f"Bearer {key}"}, timeout=600) as client:
        for start in range(0, len(dataset.documents), INGEST_BATCH):
            batch = msgspec.to_builtins(dataset.documents[start : start + INGEST_BATCH])
            response = client.post("/v1/documents", json={"documents": batch})
            response.raise_for_status()


def qa_split(dataset: QASet, seed: int) -> tuple[list[EvalQuestion], list[EvalQuestion]]:
    """The few-shot examples (questions with their answers, left out of the evaluation) and the rest."""
    questions = list(dataset.questions)
    random.Random(seed).shuffle(questions)
    return questions[:QA_SHOTS], questions[QA_SHOTS:]


def run_qa(dataset: QASet, args: argparse.Namespace, key: str) -> tuple[list[PathResult], list[str], Confidences]:
    if args.ingest:
        ingest(dataset, args.gateway_url, key)
    shots, asked = qa_split(dataset, args.seed)
    notes = [f"{len(dataset.documents)} documents, {len(asked)} questions with reference answers"]
    notes.append(f"few-shot prompting: {len(shots)} of the questions, with their answers, left out of the evaluation")
    results = []
    with gateway_client(args.gateway_url, key) as client:
        for path in qa_paths(
            args.base_model, args.adapter, [(q.text, q.answer) for q in shots], run_seed(), args.max_tokens
        ):
            observations = run_path(client, path, [question.text for question in asked], PATH_TITLES[path.name])
            results.append(qa_result(path.name, observations, asked))
    return results, notes, {}
