"""A shard's folder, and the folders of a graph build beside it (:mod:`tutorbook_retriever.clients.edge.graph`):
the copy being built, its ready mark, the folder it replaces, and the record of the last build; finishing a
swap a crash interrupted, or discarding what it left."""

import json
import logging
import os
import shutil
from pathlib import Path

from qdrant_edge import EdgeConfig, EdgeShard

log = logging.getLogger(__name__)


def load_or_create(path: Path, config: EdgeConfig) -> EdgeShard:
    """The shard in ``path`` (its config checked against ``config``), or a new one when it holds none."""
    exists = path.is_dir() and any(path.iterdir())
    path.mkdir(parents=True, exist_ok=True)
    return EdgeShard.load(str(path), config) if exists else EdgeShard.create(str(path), config)


def swap_paths(path: Path) -> tuple[Path, Path, Path]:
    """The copy being built, its ready mark, and the folder it replaces, while both exist."""
    return (
        path.with_name(path.name + ".graph-next"),
        path.with_name(path.name + ".graph-ready"),
        path.with_name(path.name + ".graph-old"),
    )


def built_record(path: Path) -> Path:
    """How many chunks the shard held when its graph was last built (JSON)."""
    return path.with_name(path.name + ".graph.json")


def recover_swap(path: Path) -> None:
    """Before ``path`` is loaded: finish a swap whose copy is ready, then remove what a crash left."""
    following, ready, previous = swap_paths(path)
    if ready.exists() and following.is_dir():
        swap_folders(path)
        log.info("finished swapping in the graph of %s", path.name)
    ready.unlink(missing_ok=True)
    discard(following)
    discard(previous)


def swap_folders(path: Path) -> None:
    """The ready copy takes the shard's place; the shard's folder is left beside it, to be discarded."""
    following, ready, previous = swap_paths(path)
    if path.is_dir():
        discard(previous)
        path.rename(previous)
    following.rename(path)
    ready.unlink()
    sync_path(path.parent)


def discard(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)


def sync_path(folder: Path) -> None:
    """fsync a folder (its entries) or a file (its contents)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def sync_tree(folder: Path) -> None:
    """Every file under ``folder`` on disk, and the folders that name them (a copy, before it is marked
    ready: a power cut must not leave a ready copy with files still in the page cache)."""
    for directory, _, files in os.walk(folder):
        for name in files:
            sync_path(Path(directory) / name)
        sync_path(Path(directory))


def record_built(path: Path, chunks: int) -> None:
    built_record(path).write_text(json.dumps({"chunks": chunks}))


def chunks_when_built(path: Path) -> int:
    record = built_record(path)
    try:
        return int(json.loads(record.read_text())["chunks"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0
