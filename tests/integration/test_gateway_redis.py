"""A real Redis going away and coming back while the gateway serves: chat keeps working (cache and
sessions degrade, logged and counted), rate limits fail open or closed as configured, and once Redis is
back the gateway uses it again without a restart."""

from typing import Any

import pytest
import redis
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import RedisServer, eventually
from tests.integration.test_gateway_state import Gateway, ask, metric
from tests.unit.fakes import USER
from tutorbook_retriever.clients.version_publisher import RedisVersionPublisher


def test_readiness_reports_redis(redis_server: RedisServer) -> None:
    with Gateway(redis_server.url).client() as client:
        # the probe allows Redis 0.5 s: on a loaded machine one probe may miss it, as a kubelet's would
        eventually(lambda: client.get("/readyz").status_code == 200, what="ready on a running Redis")
        redis_server.stop()
        down = client.get("/readyz")
        assert down.status_code == 503 and down.json()["checks"]["redis"].startswith("failed")
        assert str(redis_server.port) not in down.text  # the kind of error, never its text (addresses)
        redis_server.start()
        eventually(lambda: client.get("/readyz").json()["checks"]["redis"] == "ok", what="ready once Redis is back")


def cache_header(client: TestClient[Litestar], text: str) -> str:
    response = ask(client, text)
    assert response.status_code == 200, response.text
    return str(response.headers["x-tutorbook-cache"])


def session_turn(client: TestClient[Litestar], text: str) -> None:
    assert ask(client, text, {**USER, "x-tutorbook-session": "s1"}).status_code == 200


def test_chat_survives_redis_going_away_and_uses_it_again_when_back(redis_server: RedisServer) -> None:
    gateway = Gateway(redis_server.url)
    with gateway.client() as client:
        assert [cache_header(client, "warranty?"), cache_header(client, "warranty?")] == ["miss", "hit"]
        redis_server.stop()
        assert [cache_header(client, "warranty?"), cache_header(client, "warranty?")] == ["miss", "miss"]
        session_turn(client, "and the returns?")
        for component in ("cache", "sessions"):
            assert metric(client, f'tutorbook_gateway_state_errors_total{{component="{component}"}}') >= 2
        redis_server.start()  # empty: the server keeps nothing on disk in this test
        assert cache_header(client, "warranty?") == "miss"
        # The entry is written off the response's path, on a fresh connection: soon, not at once.
        eventually(lambda: cache_header(client, "warranty?") == "hit", what="a cache hit after Redis came back")
        session_turn(client, "Tell me about the warranty")
        session_turn(client, "and how long is it?")
        assert gateway.retriever.queries[-1] == "Tell me about the warranty and how long is it?"


@pytest.mark.parametrize("fail_open", [True, False])
def test_rate_limits_fail_open_or_closed_when_redis_is_down(redis_server: RedisServer, fail_open: bool) -> None:
    gateway = Gateway(redis_server.url, limits__fail_open=fail_open, limits__lease_seconds=0)
    with gateway.client() as client:
        assert ask(client, "warranty?").status_code == 200
        redis_server.stop()
        down = ask(client, "warranty?")
        assert metric(client, 'tutorbook_gateway_state_errors_total{component="rate_limits"}') == 1
        if fail_open:
            assert down.status_code == 200
        else:
            assert down.status_code == 503 and down.json()["error"]["code"] == "service_unavailable"
        redis_server.start()
        assert ask(client, "warranty?").status_code == 200


def test_a_lease_admits_without_redis_until_it_is_used_up(redis_server: RedisServer) -> None:
    """120 requests a minute, 5-second leases: a block of 10 requests is taken in one round trip; the next
    nine need no Redis at all (it is stopped), the one after that asks Redis again and, failing closed, is
    refused."""
    settings: dict[str, Any] = {
        "limits__requests_per_minute": 120,
        "limits__lease_seconds": 5,
        "limits__fail_open": False,
    }
    gateway = Gateway(redis_server.url, **settings)
    with gateway.client() as client:
        assert ask(client, "warranty?").status_code == 200
        redis_server.stop()
        assert [ask(client, "warranty?").status_code for _ in range(9)] == [200] * 9
        assert ask(client, "warranty?").status_code == 503
        redis_server.start()


def redis_calls(server: RedisServer, command: str) -> int:
    stats = redis.Redis.from_url(server.url).info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def test_a_repeated_answer_is_served_from_the_process_until_the_index_changes(redis_server: RedisServer) -> None:
    """The retriever's publisher announces index versions in Redis; the gateway follows them, so a hit on an
    entry it keeps costs no round trip, and a new version stops it at once."""
    publisher = RedisVersionPublisher(redis_server.target)
    gateway = Gateway(redis_server.url)
    publisher.publish(gateway.retriever.version)
    with gateway.client() as client:
        eventually(lambda: cache_header(client, "warranty?") == "hit", what="a cache hit")
        lookups = redis_calls(redis_server, "mget")
        assert [cache_header(client, "warranty?") for _ in range(3)] == ["hit"] * 3
        assert redis_calls(redis_server, "mget") == lookups  # answered with no round trip
        gateway.retriever.version += 1  # the documents change ...
        publisher.publish(gateway.retriever.version)  # ... and the retriever says so
        eventually(lambda: cache_header(client, "warranty?") == "miss", what="a miss after the index changed")
        assert len(gateway.generator.payloads) == 2
    publisher.close()


def test_each_answer_counts_its_redis_round_trips(redis_server: RedisServer) -> None:
    """The capacity model's Redis cost per request, as a metric: every answer is counted once, with its
    admission (no lease here), its cache read and its claims record at least; the cache's background write
    is not the request's, so an answer from the cache costs no more than the miss that computed it."""
    with Gateway(redis_server.url, limits__lease_seconds=0).client() as client:
        answers = 'tutorbook_gateway_redis_round_trips_count{route="rag"}'
        trips = 'tutorbook_gateway_redis_round_trips_sum{route="rag"}'
        assert cache_header(client, "warranty?") == "miss"
        miss = metric(client, trips)
        assert metric(client, answers) == 1 and miss >= 3
        eventually(lambda: cache_header(client, "warranty?") == "hit", what="the entry written in the background")
        before = metric(client, trips), metric(client, answers)
        assert cache_header(client, "warranty?") == "hit"
        assert metric(client, answers) == before[1] + 1 and 1 <= metric(client, trips) - before[0] <= miss
