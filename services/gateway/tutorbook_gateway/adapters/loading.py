"""Hot-loading adapters on every generator replica (vLLM's ``/v1/load_lora_adapter``), and unloading them.

Replicas come from settings (a list of URLs) or from DNS (every address of a Kubernetes headless service).
Replicas that start later find adapters through vLLM's filesystem resolver on the shared adapter folder.
"""

import asyncio
import socket
from dataclasses import dataclass
from typing import Protocol

import aiohttp

LISTING_TIMEOUT = aiohttp.ClientTimeout(total=5)  # a listing waits this long for a replica, at most


@dataclass(frozen=True)
class LoadResult:
    replica: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class ReplicaModels:
    """What one generator replica serves now (``models`` is empty when it did not answer)."""

    replica: str
    reachable: bool
    models: tuple[str, ...] = ()
    detail: str = ""


class AdapterLoader(Protocol):
    async def load(self, lora_name: str, lora_path: str) -> list[LoadResult]: ...

    async def unload(self, lora_name: str) -> list[LoadResult]: ...

    async def served(self) -> list[ReplicaModels]: ...


async def replica_urls(urls: list[str], dns_name: str, port: int) -> list[str]:
    """The configured URLs, plus one per address the DNS name resolves to (a headless service)."""
    found = list(urls)
    if dns_name:
        infos = await asyncio.get_running_loop().getaddrinfo(dns_name, port, type=socket.SOCK_STREAM)
        found += sorted({f"http://{info[4][0]}:{port}" for info in infos})
    return found


class VllmAdapterLoader:
    def __init__(self, session: aiohttp.ClientSession, urls: list[str], dns_name: str = "", dns_port: int = 8002):
        self._session = session
        self._urls = urls
        self._dns_name = dns_name
        self._dns_port = dns_port

    async def _each(self, path: str, body: dict[str, str], tolerated: str) -> list[LoadResult]:
        replicas = await replica_urls(self._urls, self._dns_name, self._dns_port)

        async def call(replica: str) -> LoadResult:
            try:
                async with self._session.post(f"{replica}{path}", json=body) as response:
                    text = await response.text()
                    ok = response.status == 200 or tolerated in text
                    return LoadResult(replica, ok, "" if ok else f"HTTP {response.status}: {text[:300]}")
            except (TimeoutError, aiohttp.ClientError) as exc:
                return LoadResult(replica, False, f"{type(exc).__name__}: {exc}")

        return list(await asyncio.gather(*(call(replica) for replica in replicas)))

    async def load(self, lora_name: str, lora_path: str) -> list[LoadResult]:
        body = {"lora_name": lora_name, "lora_path": lora_path}
        return await self._each("/v1/load_lora_adapter", body, "has already been loaded")

    async def unload(self, lora_name: str) -> list[LoadResult]:
        return await self._each("/v1/unload_lora_adapter", {"lora_name": lora_name}, "cannot be found")

    async def served(self) -> list[ReplicaModels]:
        """Each replica's ``/v1/models``: the adapter console shows every version's status replica by replica.
        A replica that does not answer within ``LISTING_TIMEOUT`` is shown unreachable; never an error."""
        try:
            async with asyncio.timeout(LISTING_TIMEOUT.total):
                replicas = await replica_urls(self._urls, self._dns_name, self._dns_port)
        except (OSError, TimeoutError) as exc:  # the headless service's name does not resolve (yet)
            return [ReplicaModels(self._dns_name, False, detail=f"{type(exc).__name__}: {exc}")]
        return list(await asyncio.gather(*(self._models_of(replica) for replica in replicas)))

    async def _models_of(self, replica: str) -> ReplicaModels:
        try:
            async with self._session.get(f"{replica}/v1/models", timeout=LISTING_TIMEOUT) as response:
                if response.status != 200:
                    return ReplicaModels(replica, False, detail=f"HTTP {response.status}")
                listed = await response.json()
            models = listed["data"] if isinstance(listed, dict) and isinstance(listed.get("data"), list) else None
            if models is None:
                return ReplicaModels(replica, False, detail="its /v1/models is not a model list")
            ids = tuple(m["id"] for m in models if isinstance(m, dict) and isinstance(m.get("id"), str))
            return ReplicaModels(replica, True, ids)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            return ReplicaModels(replica, False, detail=f"{type(exc).__name__}: {exc}")
