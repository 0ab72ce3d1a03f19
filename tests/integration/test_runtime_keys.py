"""Runtime keys on real processes: two gateway processes share real redis-servers, as compose and
Kubernetes run them: the chat state's, and the access records' (its append-only file synced before each
write is answered). A key made through one gateway works on the other within a second; a key revoked
through one is refused by both within a second; a key made right before the records' Redis and every
gateway are killed with SIGKILL works again once they are restarted, and its audit entry is there."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import RedisServer, free_port
from tests.integration.gateway_process import start_gateway
from tests.unit.fakes import ADMIN
from tutorbook_devstack.processes import ServiceProcess

ADMIN_KEY = ADMIN["Authorization"].removeprefix("Bearer ")
SECOND = 1.0


@pytest.fixture
def records_redis(tmp_path: Path) -> Iterator[RedisServer]:
    folder = tmp_path / "records"
    folder.mkdir()
    server = RedisServer(free_port(), folder, fsync="always")
    server.start()
    yield server
    server.stop()


def start(data_dir: Path, port: int, shared: RedisServer, records: RedisServer) -> ServiceProcess:
    return start_gateway(data_dir, port, redis_url=shared.url, TUTORBOOK_GATEWAY_KEYS__RECORDS_REDIS_URL=records.url)


def me(url: str, key: str) -> int:
    return httpx.get(f"{url}/v1/me", headers={"Authorization": f"Bearer {key}"}, timeout=5).status_code


def seconds_until(condition: Callable[[], bool], limit: float = 10.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < limit, "never happened"
        time.sleep(0.02)
    return time.monotonic() - started


def kill(service: ServiceProcess) -> None:
    os.kill(service.process.pid, signal.SIGKILL)
    service.process.wait(10)


def new_key(url: str, name: str) -> dict[str, str]:
    response = httpx.post(f"{url}/v1/admin/keys", json={"name": name}, headers=ADMIN, timeout=10)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_keys_made_and_revoked_on_one_gateway_hold_on_the_other_within_a_second(
    tmp_path: Path, redis_server: RedisServer, records_redis: RedisServer
) -> None:
    ports = free_port(), free_port()
    gateways = [start(tmp_path / f"g{n}", port, redis_server, records_redis) for n, port in enumerate(ports)]
    first, second = (f"http://127.0.0.1:{port}" for port in ports)
    try:
        key = new_key(first, "app")["key"]
        assert me(first, key) == 200  # at once where it was made
        took = seconds_until(lambda: me(second, key) == 200)
        assert took < SECOND, took
        assert httpx.delete(f"{first}/v1/admin/keys/{key[:14]}", headers=ADMIN, timeout=10).status_code == 200
        revoked = seconds_until(lambda: me(first, key) == 401 and me(second, key) == 401)
        print(f"seen by the other gateway after {took:.3f} s; refused by both {revoked:.3f} s after revoking")
        assert revoked < SECOND, revoked
    finally:
        for gateway in gateways:
            kill(gateway)


def test_a_key_survives_sigkill_of_redis_and_of_every_gateway(
    tmp_path: Path, redis_server: RedisServer, records_redis: RedisServer
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    gateway = start(tmp_path / "g", port, redis_server, records_redis)
    key = new_key(url, "survivor")["key"]
    records_redis.kill()  # right after the answer that made it
    redis_server.kill()
    kill(gateway)
    records_redis.start()
    redis_server.start()
    gateway = start(tmp_path / "g", port, redis_server, records_redis)
    try:
        assert me(url, key) == 200
        audit = httpx.get(f"{url}/v1/admin/audit", headers=ADMIN, timeout=10).json()["data"]
        assert audit[0]["action"] == "key.create" and audit[0]["outcome"] == "ok"
    finally:
        kill(gateway)


def keys_cli(url: str, *arguments: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "tutorbook_gateway.keys_cli", "--url", url, "--key", ADMIN_KEY, *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_the_keys_command_makes_a_team_and_a_key_lists_and_revokes_it(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    gateway = start_gateway(tmp_path / "g", port)
    try:
        assert keys_cli(url, "team", "support")["name"] == "support"
        created = keys_cli(url, "create", "helpdesk", "--team", "support", "--rpm", "60", "--expires-in", "90d")
        assert me(url, created["key"]) == 200 and created["limits"]["requests_per_minute"] == 60
        listed = keys_cli(url, "list", "--team", "support")["data"]
        assert [key["name"] for key in listed] == ["helpdesk"] and created["key"] not in json.dumps(listed)
        keys_cli(url, "revoke", created["prefix"])
        assert me(url, created["key"]) == 401
        refused = subprocess.run(
            [sys.executable, "-m", "tutorbook_gateway.keys_cli", "--url", url, "--key", ADMIN_KEY, "revoke", "tbk_0"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert refused.returncode != 0 and "refused (404)" in refused.stderr
    finally:
        kill(gateway)
