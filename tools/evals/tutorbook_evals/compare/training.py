"""``tutorbook-compare --train``: train an adapter on the training split with the training CLI's defaults
(a classifier answers with a one-token code per label), upload it to the running gateway and return the
name it is served under."""

import time
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx

from tutorbook_evals.compare.datasets import ClassificationSet


def train_and_upload(
    dataset: ClassificationSet, name: str, base_model: str, gateway_url: str, key: str
) -> tuple[str, float]:
    """The adapter's name and the training time in seconds."""
    from tutorbook_training.data import classifier_dataset, write_card
    from tutorbook_training.label_scoring import with_codes
    from tutorbook_training.model import default_base_model
    from tutorbook_training.train import options_for, train
    from tutorbook_training.upload import pack

    base = default_base_model()
    training = with_codes(classifier_dataset(dataset.labels, [(e.text, e.label) for e in dataset.train]), base)
    started = time.perf_counter()
    model, figures = train(training, options_for(training), base)
    seconds = time.perf_counter() - started
    with TemporaryDirectory(prefix="tutorbook-compare-") as folder:
        model.save_pretrained(folder, safe_serialization=True)
        write_card(training, name, base_model, Path(folder), figures)
        response = httpx.post(
            f"{gateway_url}/v1/adapters",
            files={"file": (f"{name}.tar.gz", pack(Path(folder)))},
            headers={"Authorization": f"Bearer {key}"},
            timeout=300,
        )
    if response.status_code != 201:
        raise RuntimeError(f"the gateway refused the adapter ({response.status_code}): {response.text[:300]}")
    return name, seconds
