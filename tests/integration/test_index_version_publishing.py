"""The retriever publishes every index version to the gateways' Redis (a real one here), where the
response cache reads it together with the cached entry."""

import time

import redis

from tests.conftest import INTERNAL_TOKEN, RedisServer, internal_client
from tutorbook_config.service_settings import configured
from tutorbook_retriever.app import create_app
from tutorbook_retriever.clients.embedder import SentenceTransformerEmbedder
from tutorbook_retriever.settings import RetrieverSettings
from tutorbook_service.index_version import INDEX_VERSION_KEY


def published(server: RedisServer) -> int | None:
    value = redis.Redis.from_url(server.url).get(INDEX_VERSION_KEY)
    return None if value is None else int(value)


def test_every_index_version_is_published_and_republished(
    tmp_path, embedder: SentenceTransformerEmbedder, redis_server: RedisServer
) -> None:
    settings = configured(
        RetrieverSettings,
        shared__data_dir=tmp_path,
        shared__redis_url=redis_server.url,
        shared__internal_token=INTERNAL_TOKEN,
    )
    with internal_client(create_app(settings, embedder=embedder)) as client:
        assert published(redis_server) == client.get("/v1/index-version").json()["index_version"]
        body = client.post("/v1/documents", json={"documents": [{"id": "a", "text": "Alpha text."}]}).json()
        assert published(redis_server) == body["index_version"] > 0
        deleted = client.delete("/v1/documents/a").json()["index_version"]
        assert published(redis_server) == deleted > body["index_version"]
        # Redis loses everything (a restart without persistence): the retriever publishes again within a second.
        redis.Redis.from_url(redis_server.url).flushall()
        deadline = time.monotonic() + 5
        while published(redis_server) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert published(redis_server) == deleted


def test_an_older_version_never_overwrites_a_newer_one(redis_server: RedisServer) -> None:
    from tutorbook_retriever.clients.version_publisher import RedisVersionPublisher

    publisher = RedisVersionPublisher(redis_server.target)
    publisher.publish(20)
    publisher.publish(10)  # a slower replica reporting an earlier change
    assert published(redis_server) == 20
    publisher.close()
