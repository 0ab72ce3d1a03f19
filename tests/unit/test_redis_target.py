"""Where the services find Redis: a URL, Redis Sentinel, or a Redis Cluster; a setting that does not say
one thing stops the service with a message naming what is wrong."""

import pytest
from pydantic import ValidationError

from tutorbook_config.redis_target import RedisTarget, redis_target
from tutorbook_config.service_settings import configured
from tutorbook_config.shared import SharedSettings
from tutorbook_gateway.settings import GatewaySettings
from tutorbook_retriever.settings import RetrieverSettings


def test_sentinels_are_read_as_host_and_port() -> None:
    target = redis_target("", " sentinel-0:26379, 10.0.0.2:26380,[::1]:26381 ", "tutorbook")
    assert target.sentinels == (("sentinel-0", 26379), ("10.0.0.2", 26380), ("::1", 26381))
    assert target.master == "tutorbook" and target.configured


def test_a_url_alone_or_nothing_at_all() -> None:
    assert redis_target("redis://redis:6379/0", "", "") == RedisTarget("redis://redis:6379/0")
    assert not redis_target("", "", "").configured


@pytest.mark.parametrize(
    ("url", "sentinels", "master", "message"),
    [
        ("redis://redis:6379/0", "s:26379", "tutorbook", "not both"),
        ("", "s:26379", "", "both the sentinels"),
        ("", "", "tutorbook", "both the sentinels"),
        ("", "s:port", "tutorbook", "'s:port' is not host:port"),
        ("", "s:70000", "tutorbook", "is not host:port"),
    ],
)
def test_settings_that_do_not_say_one_thing_are_refused(url: str, sentinels: str, master: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SharedSettings(redis_url=url, redis_sentinels=sentinels, redis_sentinel_master=master)


def test_a_cluster_is_reached_through_one_nodes_url() -> None:
    assert SharedSettings(redis_url="redis://node-0:6379", redis_cluster=True).redis_target().cluster
    with pytest.raises(ValidationError, match="URL of one of its nodes"):
        SharedSettings(redis_cluster=True)


def test_with_a_cluster_the_records_need_a_redis_of_their_own_and_nothing_waits_on_replicas() -> None:
    cluster = {"shared__redis_url": "redis://node-0:6379", "shared__redis_cluster": True}
    with pytest.raises(ValidationError, match="RECORDS_REDIS_URL"):
        configured(GatewaySettings, **cluster)
    records = configured(GatewaySettings, **cluster, keys__records_redis_url="redis://records:6379/0")
    assert records.keys.records_redis_url
    with pytest.raises(ValidationError, match="VERSION_REPLICAS"):
        configured(RetrieverSettings, **cluster, ingest__version_replicas=1)
    with pytest.raises(ValidationError, match="LOCK_REPLICAS"):
        configured(GatewaySettings, **cluster, keys__records_redis_url="redis://r:6379/0", adapters__lock_replicas=1)
    with pytest.raises(ValidationError, match="no Redis is set"):  # the process's memory has no replicas
        configured(GatewaySettings, adapters__lock_replicas=1)


def test_the_records_own_redis_may_be_behind_sentinel_and_is_refused_half_said() -> None:
    own = {"keys__records_redis_sentinels": "s:26379", "keys__records_redis_sentinel_master": "records"}
    keys = configured(GatewaySettings, shared__redis_url="redis://node-0:6379", shared__redis_cluster=True, **own).keys
    assert keys.records_target() == RedisTarget(sentinels=(("s", 26379),), master="records")
    assert configured(GatewaySettings).keys.records_target() is None  # kept with the shared state
    with pytest.raises(ValidationError, match="both the sentinels"):
        configured(GatewaySettings, keys__records_redis_sentinels="s:26379")


def test_passwords_go_with_the_sentinels_and_never_into_a_repr() -> None:
    shared = SharedSettings(
        redis_sentinels="s:26379",
        redis_sentinel_master="tutorbook",
        redis_password="primary-password-0001",
        redis_sentinel_password="sentinel-password-0001",
    )
    target = shared.redis_target()
    assert (target.password, target.sentinel_password) == ("primary-password-0001", "sentinel-password-0001")
    assert "password-0001" not in repr(target)
    with pytest.raises(ValidationError, match="put the password in it"):
        SharedSettings(redis_url="redis://redis:6379/0", redis_password="primary-password-0001")
