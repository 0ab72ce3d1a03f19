"""Redis Sentinel, for real: a primary, a replica and three sentinels on loopback; the primary is killed
with SIGKILL under traffic. Requests keep being answered (state degraded while no primary answers, never a
5xx); after the failover the same clients, without a restart, keep sessions, limits, locks and the index
version on the new primary; a write acknowledged by the replica too (WAIT: key records, adapter locks, the
index version) survives the failover."""

import asyncio
import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import INTERNAL_TOKEN, eventually, internal_client
from tests.integration.test_gateway_state import Gateway, ask, metric
from tests.unit.fakes import ADMIN, USER
from tutorbook_config.service_settings import configured
from tutorbook_devstack.sentinels import MASTER, Passwords, SentinelGroup
from tutorbook_gateway.adapters.locking import AdapterLocks
from tutorbook_gateway.state.backend import StateUnavailableError
from tutorbook_gateway.state.conversations import Conversations, Turn
from tutorbook_gateway.state.rate_limits import Limits, RateLimiter
from tutorbook_gateway.state.redis_backend import RedisBackend
from tutorbook_retriever.app import create_app as create_retriever
from tutorbook_retriever.clients.embedder import SentenceTransformerEmbedder
from tutorbook_retriever.clients.version_publisher import RedisVersionPublisher
from tutorbook_retriever.settings import RetrieverSettings
from tutorbook_service.errors import ConflictError, RateLimitedError, ServiceUnavailableError
from tutorbook_service.index_version import INDEX_VERSION_KEY

FAILOVER_SECONDS = 60  # the bound a test waits for one; measured: a few seconds alone, but an election the
# sentinels split under a loaded machine is retried only after 2 x failover-timeout (10 s)


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelGroup]:
    group = SentinelGroup(tmp_path / "redis")
    try:
        group.start()
        yield group
    finally:
        group.stop()


def replicated(group: SentinelGroup) -> None:
    """WAIT: every write so far is on the replica too (what an acknowledgement that survives a failover
    needs; docs/state.md says which writes wait for it)."""
    primary = group.redis(group.primary_port)
    primary.set("test:marker", 1)  # WAIT counts the replicas that have this connection's last write, and
    assert primary.wait(1, 2000) >= 1  # the replication stream is in order: every earlier write too


async def until_answered(backend: RedisBackend, group: SentinelGroup) -> int:
    """Writes until one is answered (by the new primary); how many failed meanwhile, each as the state
    store being unavailable (what the gateway degrades on), never another error."""
    failed, deadline = 0, time.monotonic() + FAILOVER_SECONDS
    while time.monotonic() < deadline:
        try:
            await backend.set("probe", b"after the failover", 60)
            return failed
        except StateUnavailableError:
            failed += 1
            await asyncio.sleep(0.05)
    pytest.fail(f"no primary answered within {FAILOVER_SECONDS} s; {group.story()}")


async def test_after_a_failover_the_same_clients_keep_state_on_the_new_primary(sentinels: SentinelGroup) -> None:
    backend = RedisBackend(sentinels.target, timeout_seconds=5.0)  # what is kept, not how fast (CI is loaded)
    conversations = Conversations(backend, ttl_seconds=60, max_turns=50, max_tokens=1000, max_turn_chars=1000)
    turns = [Turn("user", "what does the warranty cover?"), Turn("assistant", "two years of parts")]
    await conversations.record("key-a", "s1", turns)
    replicated(sentinels)
    async with contextlib.AsyncExitStack() as held:
        # the last write before the kill: a lock that waited for the replica (adapters.lock_replicas)
        await held.enter_async_context(AdapterLocks(backend, replicas=1).hold("mid-change"))
        sentinels.kill_primary()
        assert await until_answered(backend, sentinels) >= 1  # the old primary's death was seen, then the new one
        assert sentinels.failed_over(), sentinels.story()
        with pytest.raises(ConflictError):  # still held on the new primary: no second change can start
            async with AdapterLocks(backend, wait_seconds=0.2).hold("mid-change"):
                pass
    kept = await conversations.history("key-a", "s1")
    assert kept == turns, (kept, sentinels.redis(sentinels.replica_port).lrange("tb:session:key-a:s1", 0, -1))
    with pytest.raises(ServiceUnavailableError, match="no Redis replica confirmed"):  # the new primary has none yet
        async with AdapterLocks(backend, replicas=1).hold("triage"):
            pass
    async with AdapterLocks(backend, wait_seconds=0.2).hold("triage"):  # the refused lock was given back
        with pytest.raises(ConflictError):
            async with AdapterLocks(backend, wait_seconds=0.2).hold("triage"):
                pass
    limiter = RateLimiter(backend, Limits(requests_per_minute=2), {}, True)
    await limiter.admit("key-a")
    await limiter.admit("key-a")
    with pytest.raises(RateLimitedError):
        await limiter.admit("key-a")
    publisher = RedisVersionPublisher(sentinels.target)  # the retriever's client, through the sentinels too
    publisher.publish(7)
    assert await backend.get(INDEX_VERSION_KEY) == b"7"
    publisher.close()
    await backend.close()


async def test_behind_passwords_the_clients_with_them_fail_over_and_one_without_is_the_store_down(
    tmp_path: Path,
) -> None:
    """The primary and replica ask for a password, the sentinels for their own (as a managed deployment
    does): clients given both (TUTORBOOK_REDIS_PASSWORD, TUTORBOOK_REDIS_SENTINEL_PASSWORD) keep working
    through a failover; a client without them sees the store unavailable, never another error."""
    group = SentinelGroup(tmp_path / "redis", passwords=Passwords("primary-password-0001", "sentinel-password-0001"))
    try:
        group.start()
        backend = RedisBackend(group.target, timeout_seconds=5.0)
        await backend.set("before", b"kept", 60)
        without = RedisBackend(dataclasses.replace(group.target, password="", sentinel_password=""), 0.5)
        with pytest.raises(StateUnavailableError):
            await without.get("before")
        replicated(group)
        group.kill_primary()
        await until_answered(backend, group)
        assert group.failed_over(), group.story()
        assert await backend.get("before") == b"kept"
        await backend.close()
        await without.close()
    finally:
        group.stop()


def sentinel_gateway(sentinels: SentinelGroup, **overrides: Any) -> Gateway:
    return Gateway(
        "", shared__redis_sentinels=sentinels.sentinels_setting, shared__redis_sentinel_master=MASTER, **overrides
    )


def test_chat_is_answered_through_a_failover_and_uses_the_new_primary(sentinels: SentinelGroup) -> None:
    gateway = sentinel_gateway(sentinels)
    session = {**USER, "x-tutorbook-session": "s1"}
    with gateway.client() as client:
        assert ask(client, "Tell me about the warranty", session).status_code == 200
        replicated(sentinels)
        sentinels.kill_primary()
        statuses, deadline = [], time.monotonic() + FAILOVER_SECONDS
        while not sentinels.failed_over():  # traffic until the sentinels promote
            statuses.append(ask(client, "warranty?").status_code)
            assert time.monotonic() < deadline, f"no failover within {FAILOVER_SECONDS} s; {sentinels.story()}"
        assert set(statuses) == {200}, statuses  # degraded while no primary answered, never a 5xx
        eventually(lambda: client.get("/readyz").status_code == 200, what="ready on the new primary")
        assert ask(client, "and how long is it?", session).status_code == 200
        assert gateway.retriever.queries[-1] == "Tell me about the warranty and how long is it?"


def records_gateway(sentinels: SentinelGroup, where: str) -> Gateway:
    """The access records with the shared state behind the sentinels, or in a Redis of their own behind
    them (the shared state then elsewhere: here, in the process)."""
    if where == "shared":
        return sentinel_gateway(sentinels, keys__records_replicas=1)
    own: dict[str, Any] = {
        "keys__records_redis_sentinels": sentinels.sentinels_setting,
        "keys__records_redis_sentinel_master": MASTER,
    }
    return Gateway("", keys__records_replicas=1, **own)


@pytest.mark.parametrize("where", ["shared", "records-own"])
def test_a_key_acknowledged_by_a_replica_survives_the_primary_killed_at_once(
    sentinels: SentinelGroup, where: str
) -> None:
    """Key records wait for a replica (``records_replicas``) before the API answers 201: the primary is
    killed the moment the answer arrives, and after the failover the key works."""
    with records_gateway(sentinels, where).client() as client:
        made = client.post("/v1/admin/keys", json={"name": "app"}, headers=ADMIN)
        sentinels.kill_primary()
        assert made.status_code == 201, made.text
        key = {"Authorization": f"Bearer {made.json()['key']}"}
        eventually(sentinels.failed_over, FAILOVER_SECONDS, "the failover")
        eventually(lambda: client.get("/v1/me", headers=key).status_code == 200, what="the key, after the failover")
        assert ask(client, "warranty?", key).status_code == 200


def test_a_key_write_no_replica_took_is_refused_with_503(sentinels: SentinelGroup) -> None:
    """The replica paused (SIGSTOP): WAIT sees no replica in time, and the API answers 503 saying the change
    is on the primary unconfirmed, never 201 for a key a failover could lose."""
    with sentinel_gateway(sentinels, keys__records_replicas=1).client() as client:
        os.kill(sentinels.pid("replica"), signal.SIGSTOP)
        try:
            refused = client.post("/v1/admin/keys", json={"name": "app"}, headers=ADMIN)
        finally:
            os.kill(sentinels.pid("replica"), signal.SIGCONT)
        assert refused.status_code == 503, refused.text
        assert "no replica confirmed it" in refused.json()["error"]["message"]
        listed = client.get("/v1/admin/keys", headers=ADMIN).json()["data"]
        assert [key["name"] for key in listed] == ["app"]  # on the primary, as the message says: revocable
        assert str(sentinels.primary_port) not in refused.text  # the store's own words stay in the logs


def sentinel_retriever(sentinels: SentinelGroup, tmp_path: Path, embedder: SentenceTransformerEmbedder) -> Any:
    settings = configured(
        RetrieverSettings,
        shared__data_dir=tmp_path,
        shared__internal_token=INTERNAL_TOKEN,
        shared__redis_sentinels=sentinels.sentinels_setting,
        shared__redis_sentinel_master=MASTER,
        ingest__version_replicas=1,
    )
    return internal_client(create_retriever(settings, embedder=embedder))


WARRANTY_DOCUMENT = {"id": "warranty", "title": "Warranty", "text": "The warranty covers parts for two years."}


def test_an_acknowledged_ingest_invalidates_the_caches_after_a_failover(
    sentinels: SentinelGroup, tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    """A gateway's cached answer (on the primary and the replica) is not served after a document change
    whose answer arrived the moment before the primary was killed: the change's index version reached the
    replica before the retriever answered, so the new primary has it and finds the entry stale. The
    gateway's retriever is the test's: its search reports the version the real retriever published first."""
    gateway = sentinel_gateway(sentinels)
    with sentinel_retriever(sentinels, tmp_path, embedder) as retriever, gateway.client() as client:
        first = retriever.post("/v1/documents", json={"documents": [WARRANTY_DOCUMENT]})
        gateway.retriever.version = first.json()["index_version"]
        cached = [ask(client, "How long is the warranty?").headers["x-tutorbook-cache"] for _ in range(2)]
        assert cached == ["miss", "hit"]
        primary = sentinels.redis(sentinels.primary_port)
        eventually(lambda: any(primary.scan_iter(match="tb:cache:*")), what="the answer cached in Redis")
        replicated(sentinels)  # the cached answer is on the replica too: a failover keeps it
        changed = {**WARRANTY_DOCUMENT, "text": "The warranty covers parts for three years."}
        answered = retriever.post("/v1/documents", json={"documents": [changed]})
        sentinels.kill_primary()
        assert answered.status_code == 200, answered.text
        eventually(sentinels.failed_over, FAILOVER_SECONDS, "the failover")
        on_new_primary = sentinels.redis(sentinels.replica_port).get(INDEX_VERSION_KEY)
        assert on_new_primary is not None and int(on_new_primary) >= answered.json()["index_version"]
        eventually(lambda: client.get("/readyz").status_code == 200, what="the gateway ready on the new primary")
        after = ask(client, "How long is the warranty?")
        assert after.status_code == 200 and after.headers.get("x-tutorbook-cache") != "hit", after.headers
        assert metric(client, 'tutorbook_gateway_cache_lookups_total{result="stale"}') == 1  # found, refused


def test_a_document_change_whose_version_no_replica_took_is_answered_503(
    sentinels: SentinelGroup, tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    with sentinel_retriever(sentinels, tmp_path, embedder) as retriever:
        os.kill(sentinels.pid("replica"), signal.SIGSTOP)
        try:
            refused = retriever.post("/v1/documents", json={"documents": [WARRANTY_DOCUMENT]})
        finally:
            os.kill(sentinels.pid("replica"), signal.SIGCONT)
        assert refused.status_code == 503 and "not confirmed on a Redis replica" in refused.json()["error"]["message"]
        again = retriever.post("/v1/documents", json={"documents": [WARRANTY_DOCUMENT]})  # stored already
        if again.status_code == 503:  # the resumed replica not caught up within the wait: as a client would
            again = retriever.post("/v1/documents", json={"documents": [WARRANTY_DOCUMENT]})
        assert again.status_code == 200 and again.json()["results"][0]["status"] == "unchanged", again.text
        on_replica = sentinels.redis(sentinels.replica_port).get(INDEX_VERSION_KEY)  # the answer confirmed it
        assert on_replica is not None and int(on_replica) >= again.json()["index_version"]
