"""The adapter store: every upload of a name is a new version, written to a temporary folder and renamed
into place (a crash never leaves a half adapter a generator could load), and one pointer file per name
says which version is active.

Layout (the folder is shared with the generators, whose LoRA filesystem resolver reads it)::

    <root>/<name>@<version>/   adapter_config.json, adapter_model.safetensors, tutorbook.json
    <root>/.active/<name>      the active version
    <root>/.numbered/<name>    the highest version number ever given to the name
    <root>/.incoming/          uploads being written
    <root>/.trash/             deleted versions being removed

A process killed while writing (``kill -9``, a lost node) leaves its folder in ``.incoming`` or ``.trash``,
never a half version under a real name: :meth:`FileAdapterStore.sweep_leftovers` removes such folders
once they are older than any upload in progress could be (other replicas share the folder).

Version numbers are never given twice, even after the adapter is deleted: a name's next upload is new to
everything keyed by name and version (the response cache, the LoRA adapters vLLM holds loaded).
"""

import os
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from tutorbook_adapter_format.card import CARD_FILE, AdapterCard, parse_card
from tutorbook_adapter_format.embedding_classifier import CLASSIFIER_FILE, LinearClassifier, parse_classifier
from tutorbook_adapter_format.layout import VERSION_SEPARATOR, active_pointer, active_version, served_name
from tutorbook_gateway.adapters.catalog import ActiveAdapter
from tutorbook_service.errors import ConflictError, NotFoundError

REFRESH_SECONDS = 1.0
LEFTOVER_SECONDS = 3600.0  # far longer than any upload is written for


class FileAdapterStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._cards: dict[tuple[str, int], AdapterCard] = {}
        self._classifiers: dict[tuple[str, int], LinearClassifier] = {}
        self._active: dict[str, ActiveAdapter] = {}
        self._read_at = 0.0

    def sweep_leftovers(self, older_than_seconds: float = LEFTOVER_SECONDS) -> list[str]:
        """Remove what killed processes left in ``.incoming`` and ``.trash``, and pointers written but never
        switched to (``.active/.<name>.<random>``); returns what was removed."""
        removed = []
        cutoff = time.time() - older_than_seconds
        for scratch in (self.root / ".incoming", self.root / ".trash", self.root / ".active"):
            for entry in scratch.iterdir() if scratch.is_dir() else []:
                if scratch.name == ".active" and not entry.name.startswith("."):
                    continue  # a live pointer
                if entry.stat().st_mtime < cutoff:
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)
                    removed.append(f"{scratch.name}/{entry.name}")
        return removed

    def folder(self, name: str, version: int) -> Path:
        return self.root / served_name(name, version)

    def _pointer(self, name: str) -> Path:
        return active_pointer(self.root, name)

    def _numbered(self, name: str) -> Path:
        return self.root / ".numbered" / name

    def highest_number(self, name: str) -> int:
        """The highest version number the name was ever given (deleted versions included)."""
        try:
            text = self._numbered(name).read_text().strip()
        except FileNotFoundError:
            text = ""
        recorded = int(text) if text.isascii() and text.isdigit() else 0
        return max([recorded, *self.versions(name)])

    def _record_number(self, name: str, version: int) -> None:
        record = self._numbered(name)
        record.parent.mkdir(parents=True, exist_ok=True)
        temporary = record.with_name(f".{name}.{uuid.uuid4().hex}")
        temporary.write_text(f"{max(version, self.highest_number(name))}\n")
        temporary.replace(record)

    def versions(self, name: str) -> list[int]:
        found = []
        if self.root.is_dir():
            for entry in self.root.iterdir():
                base, separator, version = entry.name.rpartition(VERSION_SEPARATOR)
                if separator and base == name and version.isascii() and version.isdigit() and entry.is_dir():
                    found.append(int(version))
        return sorted(found)

    def has_version(self, name: str, version: int) -> bool:
        return self.folder(name, version).is_dir()

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        names = {entry.name.rpartition(VERSION_SEPARATOR)[0] for entry in self.root.iterdir() if entry.is_dir()}
        return sorted(name for name in names if name and not name.startswith("."))

    def save(self, name: str, files: dict[str, bytes]) -> int:
        """Store a new version (written aside, then renamed into place); returns its number."""
        incoming = self.root / ".incoming" / uuid.uuid4().hex
        incoming.mkdir(parents=True)
        try:
            for file_name, content in files.items():
                with (incoming / file_name).open("wb") as handle:
                    handle.write(content)
                    handle.flush()
                    os.fsync(handle.fileno())
            while True:
                version = self.highest_number(name) + 1
                try:
                    incoming.rename(self.folder(name, version))  # atomic; fails if another upload took it
                except OSError:
                    if self.folder(name, version).exists():
                        continue
                    raise
                self._record_number(name, version)
                self._read_at = 0.0
                return version
        finally:
            shutil.rmtree(incoming, ignore_errors=True)

    def card(self, name: str, version: int) -> AdapterCard:
        key = (name, version)
        if key not in self._cards:
            path = self.folder(name, version) / CARD_FILE
            if not path.is_file():
                raise NotFoundError(f"adapter {served_name(name, version)!r} does not exist", param="version")
            self._cards[key] = parse_card(path.read_bytes())
        return self._cards[key]

    def embedding_classifier(self, name: str, version: int) -> LinearClassifier | None:
        """The version's weights when it is an embedding classifier (read once: versions never change)."""
        key = (name, version)
        if key not in self._classifiers:
            card = self.card(name, version)
            if card.kind != "embedding_classifier":
                return None
            raw = (self.folder(name, version) / CLASSIFIER_FILE).read_bytes()
            self._classifiers[key] = parse_classifier(raw, card.labels)
        return self._classifiers[key]

    def active_version(self, name: str) -> int | None:
        return active_version(self.root, name)

    def activate(self, name: str, version: int) -> None:
        if version not in self.versions(name):
            raise NotFoundError(f"adapter {name!r} has no version {version}", param="version")
        pointer = self._pointer(name)
        pointer.parent.mkdir(parents=True, exist_ok=True)
        temporary = pointer.with_name(f".{name}.{uuid.uuid4().hex}")
        temporary.write_text(f"{version}\n")
        temporary.replace(pointer)  # atomic switch
        self._read_at = 0.0

    def deactivate(self, name: str) -> None:
        self._pointer(name).unlink(missing_ok=True)
        self._read_at = 0.0

    def delete(self, name: str, version: int | None) -> list[int]:
        """Delete one version (not the active one), or the whole adapter; returns the versions deleted."""
        existing = self.versions(name)
        if not existing:
            raise NotFoundError(f"adapter {name!r} does not exist", param="name")
        if version is not None:
            if version not in existing:
                raise NotFoundError(f"adapter {name!r} has no version {version}", param="version")
            if version == self.active_version(name):
                raise ConflictError(
                    f"version {version} of {name!r} is active: activate another version first, or delete the adapter",
                    param="version",
                )
        doomed = existing if version is None else [version]
        if version is None:
            self.deactivate(name)
        trash = self.root / ".trash"
        trash.mkdir(parents=True, exist_ok=True)
        for number in doomed:
            moved = trash / uuid.uuid4().hex
            self.folder(name, number).rename(moved)  # gone at once for readers; then removed
            shutil.rmtree(moved, ignore_errors=True)
            self._cards.pop((name, number), None)
            self._classifiers.pop((name, number), None)
        self._read_at = 0.0
        return doomed

    def active(self) -> Mapping[str, ActiveAdapter]:
        """Every adapter with an active version (re-read at most once a second: other replicas write too)."""
        if time.monotonic() - self._read_at < REFRESH_SECONDS:
            return self._active
        active: dict[str, ActiveAdapter] = {}
        pointers = self.root / ".active"
        if pointers.is_dir():
            for pointer in pointers.iterdir():
                if pointer.name.startswith("."):
                    continue
                version = self.active_version(pointer.name)
                if version is not None and self.folder(pointer.name, version).is_dir():
                    active[pointer.name] = ActiveAdapter(self.card(pointer.name, version), version)
        self._active, self._read_at = active, time.monotonic()
        return active
