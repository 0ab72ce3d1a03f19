"""An embedding classifier uploaded to the real stack is checked against the real retriever's embedder
(all-MiniLM-L6-v2 on the ONNX runtime, 384 dimensions): one trained on vectors of another dimension is
refused with nothing stored, one of the served dimension is stored and answers from the real embedding."""

import httpx
import pytest

from tests.e2e.conftest import ADMIN_KEY, API_KEY
from tests.integration.adapter_archives import tar_gz
from tests.integration.test_embedding_classifier_uploads import LABELS, classifier_files

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
NAME = "e2e-dimensions"


def upload(gateway_url: str, dimension: int) -> httpx.Response:
    files = classifier_files(name=NAME, embedder="all-MiniLM-L6-v2", dimension=dimension, route_examples=[])
    archive = tar_gz(files, folder="classifier")
    return httpx.post(f"{gateway_url}/v1/adapters", files={"file": ("a.tar.gz", archive)}, headers=ADMIN, timeout=60)


def test_a_classifier_is_checked_against_the_real_retrievers_embedder(gateway_url: str) -> None:
    try:
        for dimension in (383, 768):
            refused = upload(gateway_url, dimension)
            assert refused.status_code == 400, refused.text
            assert (
                f"({dimension} dimensions), but the retriever embeds with 'all-MiniLM-L6-v2' (384 dimensions)"
                in (refused.json()["error"]["message"])
            )
            listed = httpx.get(f"{gateway_url}/v1/adapters/{NAME}", headers=ADMIN, timeout=30)
            assert listed.status_code == 404  # nothing stored
        stored = upload(gateway_url, 384)
        assert stored.status_code == 201, stored.text
        body = {"model": NAME, "messages": [{"role": "user", "content": "I was charged twice"}]}
        user = {"Authorization": f"Bearer {API_KEY}"}
        answer = httpx.post(f"{gateway_url}/v1/chat/completions", json=body, headers=user, timeout=60)
        assert answer.status_code == 200, answer.text
        classification = answer.json()["tutorbook"]["classification"]
        assert classification["label"] in LABELS and 0 < classification["confidence"] <= 1
        assert answer.json()["usage"]["total_tokens"] == 0  # the embedding answered, not the generator
    finally:
        httpx.delete(f"{gateway_url}/v1/adapters/{NAME}", headers=ADMIN, timeout=60)
