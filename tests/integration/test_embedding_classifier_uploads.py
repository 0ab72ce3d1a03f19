"""The embedding classifier, a tutor the gateway serves without the generator: uploaded, versioned,
activated and rolled back like a LoRA adapter (store on a real folder), answered from the retriever's
embedding, and refused, with the store unchanged, when it was trained on other vectors."""

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.integration.adapter_archives import adapter_files, tar_gz
from tests.integration.adapter_gateway import Gateway, upload
from tests.unit.fakes import ADMIN, USER, chat
from tutorbook_adapter_format.card import CARD_FILE
from tutorbook_adapter_format.embedding_classifier import CLASSIFIER_FILE
from tutorbook_gateway.adapters.embedding_tutor import PROBE_TEXT

LABELS = ["billing", "returns", "shipping"]
BILLING = [1.0, 0.0, 0.0]  # what the fake retriever embeds "I was charged twice" as


def classifier_files(
    name: str = "triage", embedder: str = "fake-embedder", dimension: int = 3, **changes: Any
) -> dict[str, bytes]:
    """Weights 2 on the matching axis: the message on an axis gets e^2 / (e^2 + 2) for its label."""
    weights = [[2.0 if column == row else 0.0 for column in range(dimension)] for row in range(len(LABELS))]
    classifier = {"embedder": embedder, "dimension": dimension, "labels": LABELS, "weights": weights, "bias": [0.0] * 3}
    card = {
        "name": name, "base_model": embedder, "task_type": "classifier", "kind": "embedding_classifier",
        "labels": LABELS, "route_examples": ["I was charged twice"],
    }  # fmt: skip
    classifier.update(changes.pop("classifier", {}))
    card.update(changes)
    return {CARD_FILE: json.dumps(card).encode(), CLASSIFIER_FILE: json.dumps(classifier).encode()}


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    gateway = Gateway(tmp_path)
    gateway.retriever.vectors["I was charged twice"] = BILLING
    return gateway


@pytest.fixture
def client(gateway: Gateway) -> Iterator[TestClient[Litestar]]:
    with TestClient(gateway.app) as test_client:
        yield test_client


def test_an_embedding_classifier_is_stored_activated_and_answers_without_the_generator(
    client: TestClient[Litestar], gateway: Gateway
) -> None:
    response = upload(client, tar_gz(classifier_files(), folder="triage-classifier"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["version"], body["activated"], body["loads"], body["card"]["kind"]) == (
        1, True, [], "embedding_classifier"
    )  # fmt: skip
    assert gateway.loader.calls == []  # nothing for vLLM to load
    assert gateway.retriever.route_examples["triage"] == ["I was charged twice"]

    answer = client.post("/v1/chat/completions", json=chat("I was charged twice", model="triage"), headers=USER)
    assert answer.status_code == 200 and answer.headers["x-tutorbook-route"] == "adapter"
    result = answer.json()
    expected = math.exp(2) / (math.exp(2) + 2)
    assert result["tutorbook"]["classification"]["label"] == "billing"
    assert result["tutorbook"]["classification"]["confidence"] == pytest.approx(expected, abs=1e-4)
    assert result["choices"][0]["message"]["content"] == "billing (0.79); related: returns (0.11), shipping (0.11)"
    assert result["usage"]["total_tokens"] == 0
    assert gateway.generator.payloads == [] and gateway.generator.tokenized == []  # never asked


def test_a_lora_tutor_can_be_replaced_by_an_embedding_classifier_and_rolled_back(
    client: TestClient[Litestar], gateway: Gateway
) -> None:
    assert upload(client, tar_gz(adapter_files())).status_code == 201  # triage@1, a LoRA adapter
    assert upload(client, tar_gz(classifier_files())).json()["version"] == 2
    deadline = time.monotonic() + 5
    while ("unload", "triage@1") not in gateway.loader.calls and time.monotonic() < deadline:
        time.sleep(0.05)  # the LoRA version it replaced leaves vLLM after the grace period (0 here)
    assert ("unload", "triage@1") in gateway.loader.calls
    answer = client.post("/v1/chat/completions", json=chat("I was charged twice", model="triage"), headers=USER)
    assert answer.json()["tutorbook"]["adapter"] == {"name": "triage", "version": 2}
    assert answer.json()["tutorbook"]["classification"]["label"] == "billing"

    rolled_back = client.post("/v1/adapters/triage/activate", json={"version": 1}, headers=ADMIN)
    assert rolled_back.status_code == 200 and ("load", "triage@1") in gateway.loader.calls[-1:]
    deleted = client.delete("/v1/adapters/triage", headers=ADMIN)
    assert deleted.status_code == 200 and ("unload", "triage@2") not in gateway.loader.calls


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"base_model": "all-mpnet-base-v2"}, "the retriever embeds with 'fake-embedder'"),
        ({"classifier": {"embedder": "all-mpnet-base-v2"}}, "was trained on 'all-mpnet-base-v2'"),
        ({"classifier": {"labels": ["billing", "shipping", "returns"]}}, "labels must be the card's labels"),
        ({"kind": "lora"}, "kind must be 'embedding_classifier'"),
        ({"classifier": {"bias": [0.0, 0.0]}}, "one entry per label"),
        ({"classifier": {"weights": [[1e300, 0, 0]] * 3}}, "finite numbers"),
    ],
)
def test_a_classifier_for_other_vectors_is_refused_and_nothing_is_stored(
    client: TestClient[Litestar], gateway: Gateway, changes: dict[str, Any], words: str
) -> None:
    response = upload(client, tar_gz(classifier_files(**changes)))
    assert response.status_code == 400, response.text
    assert words in response.json()["error"]["message"]
    assert gateway.tree() == []


def test_a_classifier_of_another_dimension_is_refused(client: TestClient[Litestar], gateway: Gateway) -> None:
    response = upload(client, tar_gz(classifier_files(dimension=4)))
    assert response.status_code == 400
    assert "(4 dimensions), but the retriever embeds with 'fake-embedder' (3 dimensions)" in response.text
    assert gateway.tree() == []


def test_a_classifier_of_another_dimension_than_the_real_embedders_is_refused(
    client: TestClient[Litestar], gateway: Gateway, retriever: TestClient[Litestar]
) -> None:
    """Against what the real retriever answers (all-MiniLM-L6-v2, 384 dimensions), not the 3-dimension
    stand-in: the gateway's probe is answered with the real retriever's /v1/embed of it."""
    served = retriever.post("/v1/embed", json={"texts": [PROBE_TEXT]}).json()
    assert (served["embedder"], served["dimension"], len(served["vectors"][0])) == ("all-MiniLM-L6-v2", 384, 384)
    gateway.retriever.embedder = served["embedder"]
    gateway.retriever.vectors[PROBE_TEXT] = served["vectors"][0]
    for dimension in (383, 768):
        refused = upload(client, tar_gz(classifier_files(embedder="all-MiniLM-L6-v2", dimension=dimension)))
        assert refused.status_code == 400, refused.text
        assert (
            f"was trained on 'all-MiniLM-L6-v2' ({dimension} dimensions), "
            "but the retriever embeds with 'all-MiniLM-L6-v2' (384 dimensions)"
        ) in refused.json()["error"]["message"]
        assert gateway.tree() == []
    stored = upload(client, tar_gz(classifier_files(embedder="all-MiniLM-L6-v2", dimension=384)))
    assert stored.status_code == 201, stored.text  # the right dimension: stored and activated
    assert stored.json()["version"] == 1 and stored.json()["activated"] is True


def test_a_classifier_whose_embedder_the_retriever_no_longer_serves_says_to_retrain(
    client: TestClient[Litestar], gateway: Gateway
) -> None:
    assert upload(client, tar_gz(classifier_files())).status_code == 201
    gateway.retriever.embedder = "all-mpnet-base-v2"  # the retriever was reconfigured after the upload
    answer = client.post("/v1/chat/completions", json=chat("I was charged twice", model="triage"), headers=USER)
    assert answer.status_code == 503
    assert "was trained on 'fake-embedder': retrain it" in answer.json()["error"]["message"]
