"""The semantic cache on its real path: the gateway (in process, with a stand-in generator) and the
retriever as a real process (real embedder, its answered-questions collection on Qdrant Edge), over real
HTTP. A question asked again in other words is answered from the first answer; an unrelated question,
or the same one after the index changed, is not."""

from pathlib import Path

import httpx
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import INTERNAL, INTERNAL_TOKEN, eventually, free_port
from tests.integration.retriever_process import start_retriever
from tests.unit.fakes import ADMIN, USER, FakeGenerator
from tutorbook_config.service_settings import configured
from tutorbook_gateway.app import create_app
from tutorbook_gateway.settings import GatewaySettings

DOCUMENTS = [
    {"id": "warranty", "title": "Warranty", "text": "Every Brightleaf product has a two-year warranty from delivery."},
    {"id": "returns", "title": "Returns", "text": "Brightleaf products can be returned within 30 days of delivery."},
]


def ask(client: TestClient[Litestar], question: str) -> str:
    body = {"model": "auto", "messages": [{"role": "user", "content": question}], "temperature": 0}
    response = client.post("/v1/chat/completions", json=body, headers=USER)
    assert response.status_code == 200, response.text
    return str(response.headers["x-tutorbook-cache"])


def test_a_question_in_other_words_is_answered_from_the_real_answered_questions(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    retriever = start_retriever(tmp_path / "retriever", port)
    settings = configured(
        GatewaySettings,
        keys__api_keys="user-key-for-tests-0001",
        keys__admin_keys="admin-key-for-tests-0001",
        shared__internal_token=INTERNAL_TOKEN,
        shared__base_model_name="base",
        upstreams__retriever_url=url,
        router__rag_min_score=0.3,
        shared__data_dir=tmp_path / "gateway",
        cache__semantic_enabled=True,
    )
    try:
        with TestClient(create_app(settings, generator=FakeGenerator())) as client:
            assert client.post("/v1/documents", json={"documents": DOCUMENTS}, headers=ADMIN).status_code == 200
            assert ask(client, "How long is the warranty on Brightleaf products?") == "miss"

            def remembered() -> bool:  # the gateway tells the retriever after the answer has left
                search = {"query": "How long is the warranty for Brightleaf products?", "similar_questions": True}
                found = httpx.post(f"{url}/v1/search", json=search, headers=INTERNAL, timeout=30).json()
                return found.get("similar") is not None

            eventually(remembered, 30, "the answered question stored in the retriever")
            assert ask(client, "How long is the warranty for Brightleaf products?") == "semantic-hit"
            assert ask(client, "Can I return a Brightleaf product?") == "miss"
            more = [{"id": "care", "title": "Care", "text": "Wipe Brightleaf products with a dry cloth."}]
            assert client.post("/v1/documents", json={"documents": more}, headers=ADMIN).status_code == 200
            assert ask(client, "How long is the warranty of Brightleaf products?") == "miss"  # a new index
    finally:
        retriever.stop()
