"""The gateway with the adapter store on a real folder and stand-ins for the retriever, the generator
and the adapter loader (two replicas), for the adapter upload tests."""

import json
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from tests.integration.adapter_archives import SMOLLM2_CONFIG
from tests.unit.fakes import ADMIN, WARRANTY, FakeGenerator, FakeRetriever
from tutorbook_config.service_settings import configured
from tutorbook_gateway.adapters.loading import LoadResult, ReplicaModels
from tutorbook_gateway.app import create_app
from tutorbook_gateway.settings import GatewaySettings


class FakeLoader:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.failing_replica: str | None = None  # this replica refuses every load

    async def load(self, lora_name: str, lora_path: str) -> list[LoadResult]:
        self.calls.append(("load", lora_name))
        assert (Path(lora_path) / "adapter_model.safetensors").is_file()  # complete before it is loaded
        return [
            LoadResult(replica, replica != self.failing_replica, "" if replica != self.failing_replica else "HTTP 500")
            for replica in ("http://replica-a", "http://replica-b")
        ]

    async def unload(self, lora_name: str) -> list[LoadResult]:
        self.calls.append(("unload", lora_name))
        return [LoadResult("http://replica-a", True), LoadResult("http://replica-b", True)]

    async def served(self) -> list[ReplicaModels]:
        """Replica a serves what was loaded and not unloaded since; replica b does not answer."""
        loaded: list[str] = []
        for action, name in self.calls:
            if action == "load" and name not in loaded:
                loaded.append(name)
            elif action == "unload" and name in loaded:
                loaded.remove(name)
        return [
            ReplicaModels("http://replica-a", True, tuple(loaded)),
            ReplicaModels("http://replica-b", False, detail="down"),
        ]


class Gateway:
    def __init__(self, tmp_path: Path, **overrides: Any) -> None:
        config = tmp_path / "base-config.json"
        config.write_text(json.dumps(SMOLLM2_CONFIG))
        self.adapter_dir = tmp_path / "adapters"
        self.retriever = FakeRetriever([WARRANTY])
        self.loader = FakeLoader()
        self.generator = FakeGenerator()
        settings = configured(
            GatewaySettings,
            keys__api_keys="user-key-for-tests-0001",
            keys__admin_keys="admin-key-for-tests-0001",
            shared__data_dir=tmp_path,
            adapters__base_model_config=config,
            adapters__unload_grace_seconds=0,
            **overrides,
        )
        self.app = create_app(settings, retriever=self.retriever, generator=self.generator, loader=self.loader)

    def tree(self) -> list[str]:
        """Everything stored (the pointer files' contents included)."""
        if not self.adapter_dir.exists():
            return []
        entries = []
        for path in sorted(self.adapter_dir.rglob("*")):
            relative = str(path.relative_to(self.adapter_dir))
            entries.append(f"{relative}={path.read_text()}" if path.parent.name == ".active" else relative)
        return [entry for entry in entries if not entry.startswith((".incoming", ".trash"))]


def upload(
    client: TestClient[Litestar], archive: bytes, headers: dict[str, str] = ADMIN, name: str = "a.tar.gz"
) -> Any:
    return client.post("/v1/adapters", files={"file": (name, archive, "application/octet-stream")}, headers=headers)
