"""Moving a data folder written by an earlier version (qdrant-client's local mode under
``<data_dir>/qdrant``) to Qdrant Edge, once, on the first start that finds it: every point is copied with
its vectors (nothing is re-embedded). The Edge folder is built beside its final name and renamed into
place only when complete, so an interrupted migration starts again; the old folder is left as it was."""

import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient

from tutorbook_retriever.clients.chunk_index import DENSE, LEXICAL, ChunkPoint
from tutorbook_retriever.clients.document_registry import record_from_payload
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.lexical import SparseVector

log = logging.getLogger(__name__)
PAGE = 1000


def has_local_mode_data(folder: Path, prefix: str) -> bool:
    return (folder / "collection" / f"{prefix}_documents").is_dir()


def records(client: QdrantClient, collection: str) -> Iterator[Any]:
    if not client.collection_exists(collection):
        return
    offset: Any = None
    while True:
        page, offset = client.scroll(collection, limit=PAGE, offset=offset, with_payload=True, with_vectors=True)
        yield from page
        if offset is None:
            return


def copy_chunks(client: QdrantClient, prefix: str, store: Store) -> int:
    copied, batch = 0, []
    for record in records(client, f"{prefix}_chunks"):
        vectors = record.vector
        sparse = vectors.get(LEXICAL)
        lexical = SparseVector(list(sparse.indices), list(sparse.values)) if sparse else SparseVector([], [])
        batch.append(ChunkPoint(str(record.id), list(vectors[DENSE]), lexical, dict(record.payload or {})))
        if len(batch) == PAGE:
            store.chunks.write(batch)
            copied, batch = copied + len(batch), []
    if batch:
        store.chunks.write(batch)
    return copied + len(batch)


def copy_everything(client: QdrantClient, prefix: str, store: Store) -> dict[str, int]:
    chunks = copy_chunks(client, prefix, store)
    documents, version = [], 0
    for record in records(client, f"{prefix}_documents"):
        payload = dict(record.payload or {})
        if payload.get("kind") == "document":
            documents.append(record_from_payload(payload))
        elif payload.get("kind") == "state":
            version = int(payload["index_version"])
    store.registry.put(documents)
    examples: dict[str, list[tuple[str, list[float]]]] = {}
    for record in records(client, f"{prefix}_route_examples"):
        examples.setdefault(str(record.payload["adapter"]), []).append((str(record.payload["example"]), record.vector))
    for adapter, pairs in examples.items():
        store.routes.replace(adapter, [example for example, _ in pairs], [vector for _, vector in pairs])
    questions = 0
    for record in records(client, f"{prefix}_answered_questions"):
        payload = record.payload or {}
        questions += store.questions.put(
            payload["key"], payload["question"], int(payload["index_version"]), record.vector, payload.get("team", "")
        )
    if version:
        store.registry.bump_version()  # a clock: above the old version, so caches keyed on it start again
    routes = sum(map(len, examples.values()))
    return {"chunks": chunks, "documents": len(documents), "route_examples": routes, "answered_questions": questions}


def migrate_local_mode(
    source: Path, target: Path, prefix: str, open_edge: Callable[[Path], tuple[Store, Callable[[], None]]]
) -> dict[str, int] | None:
    """Copy ``source`` (local mode) into a new Edge folder ``target``; None when there is nothing to do."""
    if target.exists() or not has_local_mode_data(source, prefix):
        return None
    partial = target.with_name(f"{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    client = QdrantClient(path=str(source))
    try:
        store, close = open_edge(partial)
        try:
            copied = copy_everything(client, prefix, store)
        finally:
            close()
    finally:
        client.close()
    partial.rename(target)
    log.warning(
        "migrated %s to Qdrant Edge at %s: %s (the old folder is kept; delete it when done)", source, target, copied
    )
    return copied
