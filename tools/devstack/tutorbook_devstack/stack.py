"""Start Redis, the generator, the retriever and the gateway as local processes, wired together."""

import dataclasses
import os
import secrets
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tutorbook_devstack.processes import ServiceProcess, start_service, wait_ready
from tutorbook_retriever.loaders import load_markdown_folder

GENERATOR_READY_TIMEOUT = 600.0
SERVICE_READY_TIMEOUT = 180.0
INGEST_BATCH = 16


@dataclass(frozen=True)
class StackConfig:
    data_dir: Path
    api_keys: tuple[str, ...]
    admin_keys: tuple[str, ...]
    model_cache_dir: Path | None = None
    host: str = "127.0.0.1"
    gateway_port: int = 8000
    retriever_port: int = 8001
    generator_port: int = 8002
    redis_port: int = 6379
    redis_persistent: bool = True
    # The access records' Redis (teams, keys, the audit log: every write on disk before it is answered);
    # None: a free port, chosen when the stack starts.
    records_redis_port: int | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # Shared by the gateway, the retriever and vLLM; a fresh one per stack unless given.
    internal_token: str = field(default_factory=lambda: f"tb-internal-{secrets.token_urlsafe(24)}")

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    @property
    def gateway_url(self) -> str:
        return self.url(self.gateway_port)


@dataclass
class Stack:
    config: StackConfig
    env: dict[str, str]
    log_dir: Path
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    commands: dict[str, list[str]] = field(default_factory=dict)

    def ready_seconds(self) -> dict[str, float | None]:
        return {name: service.ready_after for name, service in self.services.items()}

    def launch(self, name: str, command: list[str]) -> ServiceProcess:
        self.commands[name] = command
        self.services[name] = start_service(name, command, self.env, self.log_dir)
        return self.services[name]

    def restart(self, name: str) -> ServiceProcess:
        """The service started again with the same command and environment (its log appended to)."""
        self.services[name] = start_service(name, self.commands[name], self.env, self.log_dir, append=True)
        return self.services[name]

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()


def service_env(config: StackConfig) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "TUTORBOOK_GATEWAY_SERVER__HOST": config.host,
            "TUTORBOOK_RETRIEVER_SERVER__HOST": config.host,
            "TUTORBOOK_GENERATOR_SERVER__HOST": config.host,
            "TUTORBOOK_DATA_DIR": str(config.data_dir),
            "TUTORBOOK_GATEWAY_SERVER__PORT": str(config.gateway_port),
            "TUTORBOOK_RETRIEVER_SERVER__PORT": str(config.retriever_port),
            "TUTORBOOK_GENERATOR_SERVER__PORT": str(config.generator_port),
            "TUTORBOOK_GATEWAY_UPSTREAMS__RETRIEVER_URL": config.url(config.retriever_port),
            "TUTORBOOK_GATEWAY_UPSTREAMS__GENERATOR_URL": config.url(config.generator_port),
            "TUTORBOOK_REDIS_URL": f"redis://{config.host}:{config.redis_port}/0",
            "TUTORBOOK_GATEWAY_KEYS__RECORDS_REDIS_URL": f"redis://{config.host}:{config.records_redis_port}/0",
            "TUTORBOOK_GATEWAY_KEYS__API_KEYS": ",".join(config.api_keys),
            "TUTORBOOK_GATEWAY_KEYS__ADMIN_KEYS": ",".join(config.admin_keys),
            "TUTORBOOK_INTERNAL_TOKEN": config.internal_token,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
    )
    if config.model_cache_dir is not None:
        env["TUTORBOOK_MODEL_CACHE_DIR"] = str(config.model_cache_dir)
    env.update(config.extra_env)
    return env


def redis_command(config: StackConfig) -> list[str]:
    """The chat state's Redis: its append-only file synced every second (or no persistence, for tests)."""
    command = redis_server(config.host, config.redis_port)
    if config.redis_persistent:
        return [*command, "--dir", str(redis_folder(config, "redis")), "--appendonly", "yes"]
    return [*command, "--appendonly", "no"]


def records_redis_command(config: StackConfig) -> list[str]:
    """The access records' Redis: each write synced to disk before it is answered (docs/security.md)."""
    assert config.records_redis_port is not None
    command = redis_server(config.host, config.records_redis_port)
    return [*command, "--dir", str(redis_folder(config, "records")), "--appendonly", "yes", "--appendfsync", "always"]


def redis_server(host: str, port: int) -> list[str]:
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError("redis-server is not installed: apt-get install redis-server (make run does it as root)")
    return [server, "--port", str(port), "--bind", host, "--save", ""]


def redis_folder(config: StackConfig, name: str) -> Path:
    folder = config.data_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder.resolve()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PortInUseError(RuntimeError):
    pass


def require_free_ports(host: str, ports: list[int]) -> None:
    """Refuse to start beside something already listening on a stack's port (say, a stack a killed benchmark
    left running): its services would fail to bind, and the readiness checks would find the old ones."""
    for port in ports:
        with socket.socket() as probe:
            probe.settimeout(1)
            if probe.connect_ex((host, port)) == 0:
                raise PortInUseError(f"port {port} on {host} is already in use (a stack left running?): stop it first")


def wait_redis(service: ServiceProcess, config: StackConfig, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((config.host, port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                if connection.recv(16).startswith(b"+PONG"):
                    service.ready_after = time.monotonic() - service.started_at
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"redis-server did not answer on port {port}:\n{service.log_tail()}")


@contextmanager
def running_stack(config: StackConfig) -> Iterator[Stack]:
    """Start everything, wait until every service is ready, stop everything on exit."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    records_port = config.records_redis_port or free_port()
    config = dataclasses.replace(config, records_redis_port=records_port)
    ports = [config.redis_port, records_port, config.generator_port, config.retriever_port, config.gateway_port]
    require_free_ports(config.host, ports)
    python = sys.executable
    stack = Stack(config, service_env(config), config.data_dir / "logs")
    with ExitStack() as cleanup:
        cleanup.callback(stack.stop)  # whichever processes are current, restarted ones included
        redis = stack.launch("redis", redis_command(config))
        records = stack.launch("records-redis", records_redis_command(config))
        generator = stack.launch("generator", [python, "-m", "tutorbook_generator.launcher"])
        retriever = stack.launch("retriever", [python, "-m", "tutorbook_retriever"])
        gateway = stack.launch("gateway", [python, "-m", "tutorbook_gateway"])
        wait_redis(redis, config, config.redis_port)
        wait_redis(records, config, records_port)
        wait_ready(retriever, config.url(config.retriever_port) + "/readyz", SERVICE_READY_TIMEOUT)
        wait_ready(generator, config.url(config.generator_port) + "/readyz", GENERATOR_READY_TIMEOUT)
        wait_ready(gateway, config.gateway_url + "/readyz", SERVICE_READY_TIMEOUT)
        yield stack


def ingest_folder(gateway_url: str, admin_key: str, folder: Path) -> tuple[int, int]:
    """Ingest every Markdown file of ``folder`` through the gateway; returns (documents, chunks)."""
    documents = load_markdown_folder(folder)
    total_documents = total_chunks = 0
    with httpx.Client(base_url=gateway_url, headers={"authorization": f"Bearer {admin_key}"}, timeout=300) as client:
        for start in range(0, len(documents), INGEST_BATCH):
            response = client.post("/v1/documents", json={"documents": documents[start : start + INGEST_BATCH]})
            response.raise_for_status()
            body = response.json()
            total_documents += body["documents"]
            total_chunks += body["chunks"]
    return total_documents, total_chunks
