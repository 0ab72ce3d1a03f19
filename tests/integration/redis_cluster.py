"""A real Redis Cluster on loopback: three redis-server masters in cluster mode, the 16,384 slots spread
over them by ``redis-cli --cluster create``, as managed Redis services run it (without replicas)."""

import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import redis

from tests.conftest import eventually, free_port
from tutorbook_config.redis_target import RedisTarget

BUS_OFFSET = 10_000  # each node also listens on its port + 10000 for the cluster bus


def free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free port whose cluster bus port is free too."""
    while True:
        port = free_port()
        if port + BUS_OFFSET < 65_536 and free(port + BUS_OFFSET):
            return port


class RedisCluster:
    def __init__(self, folder: Path, masters: int = 3) -> None:
        self.folder = folder
        self.ports = [cluster_port() for _ in range(masters)]
        self.processes: list[subprocess.Popen[bytes]] = []
        self.target = RedisTarget(f"redis://127.0.0.1:{self.ports[0]}/0", cluster=True)

    def start(self) -> None:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            pytest.fail("redis-server is not installed (make test installs it)")
        for port in self.ports:
            nodes_file = str(self.folder / f"nodes-{port}.conf")
            command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                       "--cluster-enabled", "yes", "--cluster-config-file", nodes_file]  # fmt: skip
            self.processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in self.ports:
            eventually(lambda port=port: not free(port), 10, f"redis-server on {port}")  # type: ignore[misc]
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run([cli, "--cluster", "create", *nodes, "--cluster-yes"], check=True, capture_output=True)
        eventually(self.ready, 20, "the cluster's state ok on every node", every=0.1)

    def node(self, port: int) -> "redis.Redis":
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)

    def ready(self) -> bool:
        for port in self.ports:
            with self.node(port) as node:
                if node.cluster("INFO").get("cluster_state") != "ok":
                    return False
        return True

    def flush(self) -> None:
        for port in self.ports:
            with self.node(port) as node:
                node.flushall()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(10)
        self.processes = []
