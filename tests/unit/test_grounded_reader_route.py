"""The grounded reader: an adapter set as TUTORBOOK_GATEWAY_ANSWERS__READER_ADAPTER writes the RAG route's answers, and
the base model does whenever the reader is not served."""

from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.unit.fakes import USER, WARRANTY, FakeAdapterCatalog, FakeChunkStream, FakeGenerator, FakeRetriever, chat
from tutorbook_adapter_format.card import AdapterCard
from tutorbook_config.service_settings import configured
from tutorbook_gateway.adapters.catalog import ActiveAdapter
from tutorbook_gateway.app import create_app
from tutorbook_gateway.clients.upstream import ModelNotServedError
from tutorbook_gateway.settings import GatewaySettings

READER = AdapterCard(name="grounded-reader", base_model="base", task_type="generative")


@pytest.fixture
def generator() -> FakeGenerator:
    return FakeGenerator()


@pytest.fixture
def client(generator: FakeGenerator) -> Iterator[TestClient[Litestar]]:
    settings = configured(
        GatewaySettings,
        keys__api_keys="user-key-for-tests-0001",
        keys__admin_keys="admin-key-for-tests-0001",
        shared__base_model_name="base",
        answers__reader_adapter="grounded-reader",
    )
    catalog = FakeAdapterCatalog({"grounded-reader": ActiveAdapter(READER, 2)})
    app = create_app(settings, retriever=FakeRetriever([WARRANTY]), generator=generator, adapters=catalog)
    with TestClient(app) as test_client:
        yield test_client


def test_the_reader_writes_rag_answers_and_says_so(client: TestClient[Litestar], generator: FakeGenerator) -> None:
    body = client.post("/v1/chat/completions", json=chat("warranty?"), headers=USER).json()
    assert body["tutorbook"]["route"] == "rag" and body["tutorbook"]["reader"] == {
        "name": "grounded-reader",
        "version": 2,
    }
    assert generator.payloads[-1]["model"] == "grounded-reader@2"
    assert body["tutorbook"]["claims"][0]["supported"]


def test_the_base_model_writes_when_the_reader_is_not_served(
    client: TestClient[Litestar], generator: FakeGenerator
) -> None:
    answer = generator.open_chat_stream

    async def reader_missing(payload: dict[str, Any]) -> FakeChunkStream:
        if payload["model"] == "grounded-reader@2":
            raise ModelNotServedError("grounded-reader@2", "The model `grounded-reader@2` does not exist.")
        return await answer(payload)

    generator.open_chat_stream = reader_missing  # type: ignore[method-assign]
    body = client.post("/v1/chat/completions", json=chat("warranty?"), headers=USER).json()
    assert body["choices"][0]["message"]["content"] == "Two years [1]."
    assert "reader" not in body["tutorbook"] and body["tutorbook"]["fallback"]["from_reader"] == "grounded-reader"
    assert generator.payloads[-1]["model"] == "base"


def test_the_reader_does_not_write_answers_without_passages(client: TestClient[Litestar], generator) -> None:
    client.post("/v1/chat/completions", json=chat("hi", tutorbook={"route": "prompt"}), headers=USER)
    assert generator.payloads[-1]["model"] == "base"


def test_the_penalties_apply_to_answers_written_from_passages_only(tmp_path) -> None:
    settings = configured(
        GatewaySettings,
        keys__api_keys="user-key-for-tests-0001",
        keys__admin_keys="admin-key-for-tests-0001",
        shared__base_model_name="base",
        answers__repetition_penalty=1.15,
        answers__frequency_penalty=0.5,
        shared__data_dir=tmp_path,
    )
    generator = FakeGenerator()
    with TestClient(create_app(settings, retriever=FakeRetriever([WARRANTY]), generator=generator)) as client:
        client.post("/v1/chat/completions", json=chat("warranty?"), headers=USER)
        client.post("/v1/chat/completions", json=chat("hi", tutorbook={"route": "prompt"}), headers=USER)
    rag, prompt = generator.payloads
    assert rag["repetition_penalty"] == 1.15 and "repetition_penalty" not in prompt
    assert rag["frequency_penalty"] == 0.5 and "frequency_penalty" not in prompt
