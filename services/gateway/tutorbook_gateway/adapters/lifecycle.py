"""What admins do with adapters: upload (validate, store a new version, activate, hot-load, teach the
router), activate a version (rollback), delete; and what they see (versions, cards, load state).

Nothing is stored until the upload is fully validated. Activating loads the version on every replica
first and switches the pointer after, so no request is routed to a version that is not loaded: when a
load fails on any replica, activation stops there (the version stays stored, inactive; the replicas that
did load it unload it) and the active version is unchanged. The version it replaces is unloaded after a
grace period, so in-flight requests finish on it.
"""

import asyncio
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import msgspec

from tutorbook_adapter_format.layout import served_name
from tutorbook_config.shared import BASE_MODEL_NAME
from tutorbook_gateway.adapters.archive import ArchiveLimits, read_archive
from tutorbook_gateway.adapters.catalog import AdapterHealth
from tutorbook_gateway.adapters.embedding_tutor import (
    PROBE_TEXT,
    is_embedding_classifier,
    validate_embedding_classifier,
)
from tutorbook_gateway.adapters.loading import AdapterLoader, LoadResult
from tutorbook_gateway.adapters.locking import AdapterLocks
from tutorbook_gateway.adapters.store import FileAdapterStore
from tutorbook_gateway.adapters.validation import (
    CONFIG_FILE,
    AdapterRefusedError,
    BaseModelShape,
    ValidatedAdapter,
    validate_adapter,
)
from tutorbook_gateway.background import BackgroundTasks
from tutorbook_gateway.clients.retriever import RetrieverClient
from tutorbook_gateway.metrics import GatewayMetrics
from tutorbook_service.errors import ForbiddenError, NotFoundError, ServiceError, ServiceUnavailableError, UpstreamError

log = logging.getLogger("tutorbook.adapters")


class ActivationFailedError(UpstreamError):
    """A generator replica did not load the version (502): nothing was switched."""

    code = "adapter_load_failed"

    def __init__(self, message: str, loads: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.loads = loads


@dataclass(frozen=True)
class AdapterAdmin:
    store: FileAdapterStore
    limits: ArchiveLimits
    base_config: Path  # the base model's config.json (read at each upload: the generator may write it later)
    max_rank: int
    base_model: str
    generator_adapter_dir: Path  # the store's folder as the generators see it
    loader: AdapterLoader
    retriever: RetrieverClient
    health: AdapterHealth
    metrics: GatewayMetrics
    background: BackgroundTasks
    require_eval_win: bool
    unload_grace_seconds: float
    locks: AdapterLocks

    async def upload(self, archive: IO[bytes], team: str | None = None, activate: bool = True) -> dict[str, Any]:
        """Validate, store and (unless an evaluation gate holds it, or ``activate`` is false: a candidate for
        a rollout) activate the tutor in ``archive`` (a LoRA adapter, or an embedding classifier), a seekable
        file: the upload as the route streamed it to disk. ``team``: uploaded by a team's key (not an
        admin's): the tutor must be private to that team."""
        try:
            files, adapter = await self.unpack_and_validate(archive)
        except AdapterRefusedError as exc:
            self.metrics.adapter_uploads.labels(result="refused").inc()
            self.metrics.adapter_refusals.labels(reason=exc.reason).inc()
            raise
        except ServiceError as exc:
            if exc.status_code < 500:  # the archive itself: unreadable, too large
                self.metrics.adapter_uploads.labels(result="refused").inc()
                self.metrics.adapter_refusals.labels(reason="archive").inc()
            raise
        name = adapter.card.name
        if team is not None:
            self.check_private_to(adapter.card.teams, team)
            self.check_owner(name, team, missing_ok=True)
        if adapter.card.kind == "lora":
            files = with_base_model_name(files, self.base_config.parent / BASE_MODEL_NAME.name)
        async with self.locks.hold(name):
            return await self.store_and_activate(name, files, adapter, activate)

    async def store_and_activate(
        self, name: str, files: dict[str, bytes], adapter: ValidatedAdapter, activate: bool = True
    ) -> dict[str, Any]:
        version = await asyncio.to_thread(self.store.save, name, files)
        self.metrics.adapter_uploads.labels(result="stored").inc()
        if not activate:
            return {**self.describe_version(name, version), "activated": False, "why": "uploaded with activate=false"}
        gate = eval_gate(adapter.card.eval) if self.require_eval_win else None
        if gate is not None:
            return {**self.describe_version(name, version), "activated": False, "gate": gate}
        try:
            loads = await self.load_and_switch(name, version)
        except ActivationFailedError as exc:
            return {**self.describe_version(name, version), "activated": False, "loads": exc.loads, "why": exc.message}
        return {**self.describe_version(name, version), "activated": True, "loads": loads}

    async def unpack_and_validate(self, archive: IO[bytes]) -> tuple[dict[str, bytes], ValidatedAdapter]:
        """Unpacking and checking tensors is blocking work: off the event loop, so chat does not stall."""
        files = await asyncio.to_thread(read_archive, archive, self.limits)
        if is_embedding_classifier(files):
            served = await self.retriever.embed(PROBE_TEXT)  # the embedder it must have been trained on
            return files, await asyncio.to_thread(validate_embedding_classifier, files, served)
        shape = self.base_model_shape()
        return files, await asyncio.to_thread(validate_adapter, files, shape, self.max_rank, self.base_model)

    def base_model_shape(self) -> BaseModelShape:
        if not self.base_config.is_file():
            raise ServiceUnavailableError(
                f"the base model's config.json ({self.base_config}) is not available: cannot validate adapters"
            )
        return BaseModelShape.from_config(json.loads(self.base_config.read_text()))

    async def activate(self, name: str, version: int) -> list[dict[str, Any]]:
        """Make ``version`` the active one (a rollback is activating an earlier one); one change per name."""
        async with self.locks.hold(name):
            return await self.load_and_switch(name, version)

    async def load_and_switch(self, name: str, version: int) -> list[dict[str, Any]]:
        """Load ``version`` everywhere (an embedding classifier needs no generator), teach the router its
        examples, switch, then retire the old one."""
        card = self.store.card(name, version)
        previous = self.store.active_version(name)
        results = await self.load_everywhere(name, version) if card.kind == "lora" else []
        await self.retriever.put_route_examples(name, card.route_examples)
        await asyncio.to_thread(self.store.activate, name, version)
        if previous is not None and previous != version and self.store.card(name, previous).kind == "lora":
            self.background.spawn(self.unload_later(name, previous))
        return [asdict(result) for result in results]

    async def prepare(self, name: str, version: int) -> None:
        """A rollout's candidate loaded on every generator replica before it answers anyone (not activated);
        :class:`ActivationFailedError` when a replica cannot load it."""
        async with self.locks.hold(name):
            if self.store.card(name, version).kind == "lora":
                await self.load_everywhere(name, version)

    async def retire(self, name: str, version: int) -> None:
        """A rollout's candidate that was not promoted: unloaded once the answers it is writing are done."""
        if version == self.store.active_version(name):
            return  # activated by hand meanwhile: users are on it
        if self.store.has_version(name, version) and self.store.card(name, version).kind == "lora":
            self.background.spawn(self.unload_later(name, version))

    async def load_everywhere(self, name: str, version: int) -> list[LoadResult]:
        """Every replica's load, or :class:`ActivationFailedError` (those that did load it unload it)."""
        results = await self.load(name, version)
        if not all(result.ok for result in results):
            self.background.spawn(self.unload(name, version))
            failed = ", ".join(f"{result.replica} ({result.detail})" for result in results if not result.ok)
            raise ActivationFailedError(
                f"{served_name(name, version)} could not be loaded on {failed}: the active version is unchanged",
                [asdict(result) for result in results],
            )
        return results

    async def load(self, name: str, version: int) -> list[LoadResult]:
        lora = served_name(name, version)
        results = await self.loader.load(lora, str(self.generator_adapter_dir / lora))
        for result in results:
            outcome = "ok" if result.ok else "failure"
            self.metrics.adapter_loads.labels(replica=result.replica, action="load", result=outcome).inc()
            if not result.ok:
                log.warning("adapter %s not loaded on %s: %s", lora, result.replica, result.detail)
        self.health.mark_loaded(lora, all(result.ok for result in results))
        return results

    async def unload_later(self, name: str, version: int) -> None:
        await asyncio.sleep(self.unload_grace_seconds)
        await self.unload(name, version)

    async def unload(self, name: str, version: int) -> None:
        lora = served_name(name, version)
        for result in await self.loader.unload(lora):
            outcome = "ok" if result.ok else "failure"
            self.metrics.adapter_loads.labels(replica=result.replica, action="unload", result=outcome).inc()

    async def delete(self, name: str, version: int | None) -> dict[str, Any]:
        async with self.locks.hold(name):
            active = self.store.active_version(name)
            loras = {number for number in self.store.versions(name) if self.store.card(name, number).kind == "lora"}
            deleted = await asyncio.to_thread(self.store.delete, name, version)
        if version is None:
            await self.retriever.delete_route_examples(name)
        for number in set(deleted) & loras:
            if number == active:
                self.background.spawn(self.unload_later(name, number))
            else:
                self.background.spawn(self.unload(name, number))
        return {"name": name, "deleted_versions": deleted}

    def describe_version(self, name: str, version: int) -> dict[str, Any]:
        card = self.store.card(name, version)
        return {
            "name": name,
            "version": version,
            "served_name": served_name(name, version),
            "active": self.store.active_version(name) == version,
            "loaded": self.health.loaded(served_name(name, version)),
            # Generations through this version that failed in this gateway process (5xx, timeouts, not
            # served by the replica that took them): the router stops choosing an active one with too many.
            "generation_errors_last_minute": self.health.recent_errors(served_name(name, version)),
            "card": msgspec.to_builtins(card),
        }

    def describe(self, name: str) -> dict[str, Any]:
        versions = self.store.versions(name)
        if not versions:
            raise NotFoundError(f"adapter {name!r} does not exist", param="name")
        active = self.store.active_version(name)
        return {
            "name": name,
            "active_version": active,
            # the active version's (each version has its own, below): what the router reads
            "generation_errors_last_minute": 0
            if active is None
            else self.health.recent_errors(served_name(name, active)),
            "versions": [self.describe_version(name, version) for version in versions],
        }

    def listing(self, team: str | None = None) -> list[dict[str, Any]]:
        """Every adapter (``team``: only that team's private ones)."""
        return [self.describe(name) for name in self.store.names() if team is None or self.owned_by(name, team)]

    def owned_by(self, name: str, team: str) -> bool:
        """Every stored version of ``name`` is private to ``team``."""
        versions = self.store.versions(name)
        return bool(versions) and all(self.store.card(name, number).teams == [team] for number in versions)

    def check_owner(self, name: str, team: str | None, missing_ok: bool = False) -> None:
        """A team's key manages only its team's adapters: another's (or a shared one) is not there for it."""
        if team is None or (missing_ok and not self.store.versions(name)) or self.owned_by(name, team):
            return
        raise NotFoundError(f"adapter {name!r} does not exist", param="name")

    @staticmethod
    def check_private_to(teams: list[str], team: str) -> None:
        if teams != [team]:
            raise ForbiddenError(
                f"a key of team {team!r} uploads tutors private to its team: the card says teams: [{team!r}]"
            )

    async def replicas(self) -> list[dict[str, Any]]:
        """What each generator replica serves now (a version's ``served_name`` among ``models`` is loaded there)."""
        return [asdict(replica) for replica in await self.loader.served()]


def with_base_model_name(files: dict[str, bytes], published: Path) -> dict[str, bytes]:
    """The adapter's config names the model vLLM serves (what the generator published), so that vLLM's
    filesystem resolver finds it on a replica that starts later; unchanged when nothing was published."""
    if not published.is_file():
        return files
    config = json.loads(files[CONFIG_FILE])
    config["base_model_name_or_path"] = published.read_text().strip()
    return {**files, CONFIG_FILE: json.dumps(config, indent=2).encode()}


def eval_gate(evaluation: dict[str, Any]) -> str | None:
    """Why an adapter must not be activated (its own evaluation shows it no better than few-shot
    prompting of the base model), or None."""
    adapter, prompting = evaluation.get("adapter_accuracy"), evaluation.get("few_shot_accuracy")
    if not isinstance(adapter, int | float) or not isinstance(prompting, int | float):
        return "the card's eval has no adapter_accuracy and few_shot_accuracy to compare"
    if adapter <= prompting:
        return f"the adapter ({adapter:.3f}) is no better than few-shot prompting ({prompting:.3f}) on its evaluation"
    return None
