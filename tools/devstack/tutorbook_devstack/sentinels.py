"""A real Redis Sentinel deployment on loopback: a primary, a replica and three sentinels (Debian's
redis-sentinel), which promote the replica within seconds of the primary's death. Used by the failover
tests and ``make ha-check``."""

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import redis

from tutorbook_config.redis_target import RedisTarget
from tutorbook_devstack.stack import free_port, redis_server

MASTER = "tutorbook"
DOWN_AFTER_MS = 1000  # a primary silent this long is down (Sentinel's default: 30 s; shorter fails over
# without cause on a machine busy with vLLM and training)
START_SECONDS = 30.0


@dataclass(frozen=True)
class Passwords:
    """The primary's and replica's (``requirepass``, ``masterauth``), and the sentinels' own."""

    redis: str = ""
    sentinel: str = ""


def sentinel_config(port: int, primary: int, folder: Path, down_after_ms: int, passwords: Passwords) -> str:
    lines = [
        f"port {port}", "bind 127.0.0.1", "daemonize no", f'dir "{folder}"', f'logfile "{folder}/sentinel-{port}.log"',
        f"sentinel monitor {MASTER} 127.0.0.1 {primary} 2",
        f"sentinel down-after-milliseconds {MASTER} {down_after_ms}",
        f"sentinel failover-timeout {MASTER} 5000",
        f"sentinel parallel-syncs {MASTER} 1",
    ]  # fmt: skip
    if passwords.redis:
        lines.append(f"sentinel auth-pass {MASTER} {passwords.redis}")
    if passwords.sentinel:  # asked of clients, and of each other
        lines += [f"requirepass {passwords.sentinel}", f"sentinel sentinel-pass {passwords.sentinel}"]
    return "\n".join([*lines, ""])


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Seconds until ``condition`` held (checked every 20 ms); RuntimeError naming ``what`` past the limit."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.02)
    raise RuntimeError(f"{what}: not within {seconds:g} s")


class SentinelGroup:
    """``start()``; ``kill_primary()``; ``stop()`` (everything, killed: sentinels first, so none left
    running can reconfigure a later server that happens to get the same port)."""

    def __init__(self, folder: Path, down_after_ms: int = DOWN_AFTER_MS, passwords: Passwords = Passwords()) -> None:
        self.folder, self.down_after_ms, self.passwords = folder, down_after_ms, passwords
        self.primary_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]
        addresses = tuple(("127.0.0.1", port) for port in self.sentinel_ports)
        self.target = RedisTarget(
            sentinels=addresses, master=MASTER, password=passwords.redis, sentinel_password=passwords.sentinel
        )
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.commands: dict[str, list[str]] = {}

    @property
    def sentinels_setting(self) -> str:
        """As TUTORBOOK_REDIS_SENTINELS wants it."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def start(self) -> None:
        sentinel = shutil.which("redis-sentinel")
        if sentinel is None:
            raise RuntimeError("redis-sentinel is not installed: apt-get install redis-sentinel (make test does it)")
        (self.folder / "r").mkdir(parents=True, exist_ok=True)
        # Both keep their snapshots (a full sync writes one) in the group's folder, not the working directory.
        password = self.passwords.redis
        auth = ["--requirepass", password, "--masterauth", password] if password else []
        primary = [*redis_server("127.0.0.1", self.primary_port), "--appendonly", "no", "--dir", str(self.folder)]
        replica = [*redis_server("127.0.0.1", self.replica_port), "--appendonly", "no", "--dir", str(self.folder / "r")]
        primary, replica = [*primary, *auth], [*replica, *auth]
        self.launch("primary", primary)
        self.launch("replica", [*replica, "--replicaof", "127.0.0.1", str(self.primary_port)])
        for port in self.sentinel_ports:
            config = self.folder / f"sentinel-{port}.conf"  # Sentinel rewrites its own file
            config.write_text(sentinel_config(port, self.primary_port, self.folder, self.down_after_ms, self.passwords))
            self.launch(f"sentinel-{port}", [sentinel, str(config)])
        wait_for(lambda: self.in_sync(self.primary_port), START_SECONDS, "the replica in sync and known to Sentinel")

    def launch(self, name: str, command: list[str]) -> None:
        self.commands[name] = command
        self.processes[name] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def restart_old_primary(self) -> None:
        """The killed primary back, empty, on its port (as an orchestrator restarts it): the sentinels make
        it a replica of the new primary, so writes that wait for a replica can be confirmed again."""
        self.launch("primary", self.commands["primary"])
        wait_for(lambda: self.in_sync(self.replica_port), START_SECONDS, "the old primary back as a replica")

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown, no last write."""
        process = self.processes[name]
        process.kill()
        process.wait(10)

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def stop(self) -> None:
        for name in sorted(self.processes, key=lambda name: not name.startswith("sentinel")):
            self.kill(name)

    def redis(self, port: int) -> redis.Redis:
        """A client of one server of the group (the primary, the replica or a sentinel), with its password."""
        password = self.passwords.sentinel if port in self.sentinel_ports else self.passwords.redis
        return redis.Redis(port=port, password=password or None)

    def master_port(self, sentinel: int | None = None) -> int | None:
        """Where a sentinel (the first by default) says the primary is now (None: it does not answer)."""
        try:
            address = self.redis(sentinel or self.sentinel_ports[0]).sentinel_get_master_addr_by_name(MASTER)
        except redis.RedisError:
            return None
        return int(address[1]) if isinstance(address, tuple) else None

    def kill_primary(self) -> None:
        """SIGKILL the primary the sentinels started with; RuntimeError if they had already moved away from
        it (a failover without cause: the kill would test nothing)."""
        if self.master_port() != self.primary_port:
            raise RuntimeError(f"the sentinels failed over before the kill (down-after {self.down_after_ms} ms)")
        self.kill("primary")

    def story(self, lines: int = 12) -> str:
        """The last lines each sentinel logged (elections, promotions, aborts): what a failed test shows."""
        tails = []
        for port in self.sentinel_ports:
            log = self.folder / f"sentinel-{port}.log"
            text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else ["(no log)"]
            tails.append(f"sentinel {port}:\n" + "\n".join(text))
        return f"the sentinels name port {self.master_port()} as primary\n" + "\n".join(tails)

    def failed_over(self) -> bool:
        """A sentinel has promoted the replica. The others learn it from the leader's next hello (up to 2 s
        later), and a client that asked the leader already writes to the new primary meanwhile."""
        return any(self.master_port(port) == self.replica_port for port in self.sentinel_ports)

    def in_sync(self, primary: int) -> bool:
        """``primary`` is the primary the sentinels name, with a replica online that *every* sentinel knows: a
        sentinel learns replicas only from the primary's INFO (every 10 s), and one elected leader before it
        has learned the replica aborts the failover (no good slave) and waits 2 x failover-timeout to retry."""
        try:
            replica = self.redis(primary).info("replication").get("slave0", {})
            known = [self.redis(port).sentinel_slaves(MASTER) for port in self.sentinel_ports]
        except redis.RedisError:
            return False
        return replica.get("state") == "online" and all(known) and self.master_port() == primary
