"""Where the services find Redis: one URL, or Redis Sentinel (the sentinels' addresses and the name of
the master they watch), so that a failover moves every client to the new primary without a restart, or a
Redis Cluster (the URL of any of its nodes: the client finds the others and follows the slots)."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RedisTarget:
    url: str = ""
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""  # the name the sentinels monitor the primary under
    cluster: bool = False  # the URL is one node of a Redis Cluster
    password: str = field(default="", repr=False)  # behind the sentinels: the primary's (a URL has its own)
    sentinel_password: str = field(default="", repr=False)  # the sentinels' own, when they ask for one

    @property
    def configured(self) -> bool:
        return bool(self.url or self.sentinels)


def parse_sentinels(text: str) -> tuple[tuple[str, int], ...]:
    """``host:port,host:port`` (spaces allowed); ValueError naming the entry that is not one."""
    found = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{entry!r} is not host:port")
        found.append((host.strip("[]"), int(port)))
    return tuple(found)


def redis_target(
    url: str, sentinels: str, master: str, cluster: bool = False, password: str = "", sentinel_password: str = ""
) -> RedisTarget:
    """ValueError when they do not say one thing (both a URL and sentinels, sentinels without a master, a
    master without sentinels, a cluster without a URL, passwords without sentinels: a URL carries its own,
    ``redis://:password@host:6379/0``)."""
    if cluster and not url:
        raise ValueError("a Redis Cluster is reached through the URL of one of its nodes: set the Redis URL")
    addresses = parse_sentinels(sentinels)
    if addresses and url:
        raise ValueError("set the Redis URL or the sentinels, not both")
    if bool(addresses) != bool(master.strip()):
        raise ValueError("Redis Sentinel needs both the sentinels (host:port,...) and the master's name")
    if (password or sentinel_password) and not addresses:
        raise ValueError("the Redis passwords are for Sentinel: with a URL, put the password in it")
    return RedisTarget(url, addresses, master.strip(), cluster, password, sentinel_password)
