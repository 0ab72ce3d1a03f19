"""The retriever publishes every index version to the gateways' Redis (a real one here), where the
response cache reads it together with the cached entry."""

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import redis

from tests.conftest import INTERNAL_TOKEN, RedisServer, internal_client
from tests.integration.redis_cluster import RedisCluster
from tutorbook_config.service_settings import configured
from tutorbook_gateway.state.index_version import IndexVersionWatch
from tutorbook_gateway.state.redis_backend import RedisBackend
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


def test_on_a_redis_cluster_the_retriever_publishes_and_the_gateways_hear_it(
    tmp_path: Path, embedder: SentenceTransformerEmbedder, redis_cluster: RedisCluster
) -> None:
    """The retriever's publication and a gateway's subscription (its copy of the index version) on a real
    three-master cluster: an ingest's version reaches the subscriber by its announcement alone (the
    re-read is set far beyond the test), whichever node the subscription landed on."""
    redis_cluster.flush()
    settings = configured(
        RetrieverSettings,
        shared__data_dir=tmp_path,
        shared__redis_url=redis_cluster.target.url,
        shared__redis_cluster=True,
        shared__internal_token=INTERNAL_TOKEN,
    )

    async def hear(versions: Callable[[], int]) -> int | None:
        watch = IndexVersionWatch(RedisBackend(redis_cluster.target, timeout_seconds=5), reread_seconds=600)
        following = asyncio.create_task(watch.follow())
        try:
            for _ in range(500):  # subscribed once it has read the version already published
                if watch.current is not None:
                    break
                await asyncio.sleep(0.01)
            version = await asyncio.to_thread(versions)
            for _ in range(500):
                if watch.current == version:
                    break
                await asyncio.sleep(0.01)
            return watch.current if watch.current == version else None
        finally:
            following.cancel()

    with internal_client(create_app(settings, embedder=embedder)) as client:

        def ingest() -> int:
            body = client.post("/v1/documents", json={"documents": [{"id": "a", "text": "Alpha text."}]}).json()
            return int(body["index_version"])

        heard = asyncio.run(hear(ingest))
        with redis.RedisCluster.from_url(redis_cluster.target.url) as cluster:
            stored = int(cluster.get(INDEX_VERSION_KEY) or 0)
    assert heard is not None and heard == stored
