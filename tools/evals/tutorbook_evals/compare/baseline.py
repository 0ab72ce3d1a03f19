"""The cheap baseline in every classification comparison: a logistic regression on the retriever's own
sentence embeddings (the same model, the same ONNX runtime), trained on the training split in seconds.
A tutor that loses to it is not a tutor."""

import time

from tutorbook_evals.compare.datasets import ClassificationSet
from tutorbook_evals.compare.runner import Observation
from tutorbook_retriever.clients.embedder import Embedder


def embedding_classifier(dataset: ClassificationSet, embedder: Embedder) -> tuple[list[Observation], float]:
    """One observation per held-out text (embedded and classified one at a time, as it would be served),
    and the training time in seconds (embedding the training texts included)."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    started = time.perf_counter()
    features = embedder.embed([example.text for example in dataset.train])
    model = LogisticRegression(max_iter=2000, C=10.0)
    model.fit(features, [example.label for example in dataset.train])
    training_seconds = time.perf_counter() - started
    observations = []
    for example in dataset.test:
        started = time.perf_counter()
        probabilities = model.predict_proba(embedder.embed([example.text]))[0]
        best = int(probabilities.argmax())
        latency_ms = (time.perf_counter() - started) * 1000
        label = str(model.classes_[best])
        observations.append(Observation(label, None, latency_ms, 0, 0, label, float(probabilities[best])))
    return observations, training_seconds
