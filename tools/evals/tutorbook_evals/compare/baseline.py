"""The cheap baseline in every classification comparison: a logistic regression on the retriever's own
sentence embeddings (the same model, the same ONNX runtime), trained on the training split in seconds.
A tutor that loses to it is not a tutor: it is what ``tutorbook-train-adapter --kind embedding-classifier``
trains (temperature-scaled by cross-validation) and the gateway serves, computed here in-process with
the same code."""

import time

from tutorbook_adapter_format.classification import classification_from_logprobs, logits
from tutorbook_evals.compare.datasets import ClassificationSet
from tutorbook_evals.compare.runner import Observation
from tutorbook_retriever.clients.embedder import Embedder
from tutorbook_training.embedding_classifier import embedded_as_served, fit_calibrated
from tutorbook_training.train import TrainOptions


def embedding_classifier(dataset: ClassificationSet, embedder: Embedder) -> tuple[list[Observation], float]:
    """One observation per held-out text (embedded and classified one at a time, as it would be served),
    and the training time in seconds (embedding the training texts included)."""
    started = time.perf_counter()
    texts = [example.text for example in dataset.train]
    labels = [example.label for example in dataset.train]
    seen = [label for label in dataset.labels if label in labels]
    vectors = embedded_as_served(embedder, texts)
    classifier, _ = fit_calibrated(vectors, labels, "in-process", seen, TrainOptions().seed)
    training_seconds = time.perf_counter() - started
    observations = []
    for example in dataset.test:
        started = time.perf_counter()
        [vector] = embedded_as_served(embedder, [example.text])
        result = classification_from_logprobs(logits(classifier, vector))
        latency_ms = (time.perf_counter() - started) * 1000
        observations.append(Observation(result.label, None, latency_ms, 0, 0, result.label, result.confidence))
    return observations, training_seconds
