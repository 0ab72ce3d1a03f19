"""Opening Qdrant Edge shards, one folder per collection under one root, and the filters they share.

Edge is the Qdrant engine itself in this process: HNSW for dense vectors, an inverted index with IDF for
sparse ones, payload filters and a write-ahead log (an acknowledged update survives ``kill -9``). It runs
no background optimizer: the chunk shard's HNSW graph is built by another process and swapped in
(:mod:`tutorbook_retriever.clients.edge.graph`); the other shards stay small and are searched exactly.
"""

import logging
from pathlib import Path
from typing import Any

from qdrant_edge import (
    EdgeConfig,
    EdgeShard,
    FieldCondition,
    Filter,
    MatchAny,
    MatchValue,
    PayloadSchemaType,
    UpdateOperation,
)

from tutorbook_retriever.clients.edge.graph import GraphBuilder, GraphShard, build_in_process
from tutorbook_retriever.clients.edge.graph_folders import load_or_create

log = logging.getLogger(__name__)
Filters = dict[str, Any]  # metadata key -> value, or list of accepted values
# Each query runs on the calling thread: handing a small search to a pool cost more than it saved (a
# dense and a sparse top-50 on 10,000 chunks: 1.4 ms with the default pool, 0.9 ms with one thread;
# the same 10.3 ms either way on 100,000, measured on 2 cores). Requests run in parallel anyway.
SEARCH_THREADS = 1


class EdgeShards:
    """The shards of one retriever; closed together. ``graph_after_chunks``: the chunks written since the
    chunk shard's last HNSW graph at which another is built (0: never; StoreSettings)."""

    def __init__(self, root: Path, graph_after_chunks: int = 0, graph_builder: GraphBuilder = build_in_process) -> None:
        self.root, self.graph_after_chunks, self._graph_builder = root, graph_after_chunks, graph_builder
        self._shards: dict[str, EdgeShard] = {}
        self._graphs: dict[str, GraphShard] = {}

    def open(self, name: str, config: EdgeConfig, indexes: dict[str, PayloadSchemaType] | None = None) -> EdgeShard:
        """The shard ``name``: loaded when its folder holds one (with ``config``, checked against what is
        on disk), otherwise created; either way with a payload index on each field of ``indexes``."""
        if name in self._graphs:
            raise ValueError(f"{name} is open with its graph (open_graph): one shard, one opener")
        if name not in self._shards:
            shard = load_or_create(self.root / name, config)
            index_missing_fields(shard, indexes or {})
            self._shards[name] = shard
        return self._shards[name]

    def open_graph(self, name: str, config: EdgeConfig, indexes: dict[str, PayloadSchemaType]) -> GraphShard:
        """As :meth:`open`, for the shard whose graph is built beside it (the chunks)."""
        if name in self._shards:
            raise ValueError(f"{name} is open without its graph (open): one shard, one opener")
        if name not in self._graphs:
            shard = GraphShard(self.root / name, config, self.graph_after_chunks, self._graph_builder)
            index_missing_fields(shard, indexes)
            self._graphs[name] = shard
            shard.build_when_due()
        return self._graphs[name]

    def close(self) -> None:
        for graph in self._graphs.values():
            graph.close()
        for shard in self._shards.values():
            shard.flush()
            shard.close()
        self._graphs.clear()
        self._shards.clear()


def index_missing_fields(shard: EdgeShard | GraphShard, indexes: dict[str, PayloadSchemaType]) -> None:
    """A payload index on each field that has none yet: a shard written before a field was filtered on
    (``access``) gets its index when it is next loaded, not only new shards."""
    present = shard.info().payload_schema
    for key, schema in indexes.items():
        if key not in present:
            shard.update(UpdateOperation.create_field_index(key, schema))
            log.info("indexed payload field %s", key)


def equals(key: str, value: str | int | bool) -> FieldCondition:
    return FieldCondition(key=key, match=MatchValue(value))


def metadata_filter(filters: Filters) -> Filter | None:
    """Every metadata key must hold its value (or one of its list of values)."""
    conditions: list[Any] = [
        FieldCondition(key=f"metadata.{key}", match=MatchAny(list(wanted)))
        if isinstance(wanted, list)
        else equals(f"metadata.{key}", wanted)
        for key, wanted in filters.items()
    ]
    return Filter(must=conditions) if conditions else None
