"""A real Redis Sentinel deployment on loopback: a primary, a replica and three sentinels (Debian's
redis-sentinel), which fail over to the replica within a few seconds of the primary's death."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.conftest import RedisServer, eventually, free_port
from tutorbook_config.redis_target import RedisTarget

MASTER = "tutorbook"
DOWN_AFTER_MS = 500  # a primary silent this long is down (Sentinel's default: 30 s)


def sentinel_config(port: int, primary: int, folder: Path) -> str:
    return "\n".join([
        f"port {port}", "bind 127.0.0.1", "daemonize no", f'dir "{folder}"',
        f"sentinel monitor {MASTER} 127.0.0.1 {primary} 2",
        f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
        f"sentinel failover-timeout {MASTER} 5000",
        f"sentinel parallel-syncs {MASTER} 1", "",
    ])  # fmt: skip


def wait_for_port(port: int, what: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{what} did not start on port {port}")


class SentinelGroup:
    def __init__(self, folder: Path) -> None:
        self.primary = RedisServer(free_port())
        self.replica = RedisServer(free_port(), folder=folder, replica_of=self.primary.port)
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.folder = folder
        self.sentinels: list[subprocess.Popen[bytes]] = []
        self.target = RedisTarget(sentinels=tuple(("127.0.0.1", port) for port in self.sentinel_ports), master=MASTER)

    def start(self) -> None:
        binary = shutil.which("redis-sentinel")
        if binary is None:
            pytest.fail("redis-sentinel is not installed (make test installs it)")
        self.primary.start()
        self.replica.start()
        for port in self.sentinel_ports:
            config = self.folder / f"sentinel-{port}.conf"  # Sentinel rewrites its own file
            config.write_text(sentinel_config(port, self.primary.port, self.folder))
            self.sentinels.append(subprocess.Popen([binary, str(config)], stdout=subprocess.DEVNULL))
            wait_for_port(port, "redis-sentinel")
        in_sync = "the replica in sync and known to Sentinel"
        eventually(lambda: self.replicas_in_sync(self.primary.port), timeout_seconds=20, what=in_sync)

    def stop(self) -> None:
        """Everything, sentinels first (a sentinel left running could reconfigure a later test's server
        that happens to get the same port)."""
        for process in self.sentinels:
            process.kill()
            process.wait(10)
        for server in (self.primary, self.replica):
            server.kill()

    def master_port(self) -> int:
        """Where the sentinels say the primary is now."""
        address = redis.Redis(port=self.sentinel_ports[0]).sentinel_get_master_addr_by_name(MASTER)
        assert isinstance(address, tuple), address
        return int(address[1])

    def replicas_in_sync(self, primary: int) -> bool:
        try:
            info = redis.Redis(port=primary).info("replication")
            known = redis.Redis(port=self.sentinel_ports[0]).sentinel_slaves(MASTER)
        except redis.RedisError:
            return False
        online = info.get("slave0", {}).get("state") == "online"
        return online and len(known) >= 1 and self.master_port() == primary
