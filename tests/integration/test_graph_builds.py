"""The chunk index's HNSW graph, built by another process beside the live index (real Qdrant Edge, the real
build process) and swapped in: searches answer throughout, every write acknowledged meanwhile is kept, and
a crash at any step leaves one whole index."""

import dataclasses
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from qdrant_edge import EdgeShard, Point, UpdateOperation

from tutorbook_retriever.clients.chunk_index import ChunkPoint, QdrantChunkIndex
from tutorbook_retriever.clients.edge.chunks import EdgeChunkIndex, chunks_config
from tutorbook_retriever.clients.edge.graph import GraphShard, build_in_process
from tutorbook_retriever.clients.edge.graph_folders import chunks_when_built, swap_paths
from tutorbook_retriever.clients.edge.shards import EdgeShards
from tutorbook_retriever.clients.qdrant import open_qdrant
from tutorbook_retriever.lexical import SparseVector

DIMENSION = 16
NAME = "chunks"


def vector(rng: random.Random) -> list[float]:
    return [rng.uniform(-1, 1) for _ in range(DIMENSION)]


def points(doc_id: str, count: int, rng: random.Random) -> list[ChunkPoint]:
    return [
        ChunkPoint(
            str(uuid.UUID(int=rng.getrandbits(128))),
            vector(rng),
            SparseVector([n % 7], [1.0]),
            {"doc_id": doc_id, "content_hash": "h"},
        )
        for n in range(count)
    ]


def top(index: EdgeChunkIndex, query: list[float]) -> str:
    return str(index.dense_search(query, 1, {}, None)[0].payload["doc_id"])


class HeldBuilder:
    """The real build process, started only once the test lets it (writes and searches happen meanwhile)."""

    def __init__(self) -> None:
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self, folder: Path, stopping: threading.Event) -> bool:
        self.started.set()
        while not self.release.wait(0.05):
            if stopping.is_set():
                break
        return build_in_process(folder, stopping)


def test_a_graph_built_beside_the_index_keeps_every_write_made_meanwhile_and_searches_answer_throughout(
    tmp_path: Path,
) -> None:
    rng, builder = random.Random(1), HeldBuilder()
    shards = EdgeShards(tmp_path, graph_after_chunks=500, graph_builder=builder)
    index = EdgeChunkIndex(shards, NAME)
    index.ensure(DIMENSION)
    first = [point for doc_id in "abcdef" for point in points(doc_id, 100, rng)]
    index.write(first[:400])
    assert not builder.started.wait(0.5)  # 400 chunks: below the setting, no build
    index.write(first[400:])  # 600: a build starts
    assert builder.started.wait(10)
    fresh, brief = points("new", 20, rng), points("brief", 5, rng)
    edited = dataclasses.replace(first[150], payload={**first[150].payload, "content_hash": "edited"})
    index.write(fresh)  # acknowledged while the copy is being built
    index.write(brief)
    index.delete_document("brief")  # written and deleted again meanwhile
    index.delete_document("a")
    revived = first[0]
    index.write([revived])  # a chunk of "a" written again after "a" was deleted: it stays
    moved = dataclasses.replace(first[250], payload={**first[250].payload, "doc_id": "x"})
    index.write([moved])  # a chunk the copy holds, moved to another document, which is then deleted
    index.delete_document("x")
    index.write([edited])  # a chunk the copy holds, written again
    assert top(index, fresh[0].dense) == "new" and len(index.document_chunks("a")) == 1
    builder.release.set()
    graph = shards.open_graph(NAME, chunks_config(DIMENSION), {})
    graph.wait_built(120)
    assert graph.last_build is not None and (graph.last_build.chunks, graph.last_build.writes) == (600, 31)
    assert index.count() == 520 and top(index, fresh[0].dense) == "new"
    assert len(index.document_chunks("a")) == 1 and index.document_chunks("brief") == []
    assert index.dense_vectors([moved.point_id]) == {} and index.document_chunks("x") == []
    assert index.dense_search(edited.dense, 1, {}, None)[0].payload["content_hash"] == "edited"
    assert all(top(index, point.dense) == point.payload["doc_id"] for point in first[110:600:50])
    assert not any(path.exists() for path in swap_paths(tmp_path / NAME)) and chunks_when_built(tmp_path / NAME) == 600
    shards.close()
    reopened = EdgeShards(tmp_path, graph_after_chunks=500)
    again = EdgeChunkIndex(reopened, NAME)
    again.ensure(DIMENSION)
    assert again.count() == 520 and top(again, fresh[0].dense) == "new"
    reopened.close()


def test_the_index_swapped_in_has_its_hnsw_graph(tmp_path: Path) -> None:
    """Enough 384-dimension chunks for Edge to index their segment: a graph is on disk after the swap and
    none before, and each chunk is still its own nearest."""
    rng, dimension = random.Random(6), 384
    shards = EdgeShards(tmp_path, graph_after_chunks=12_000)
    index = EdgeChunkIndex(shards, NAME)
    index.ensure(dimension)
    chunks = [
        ChunkPoint(str(uuid.UUID(int=rng.getrandbits(128))), [rng.uniform(-1, 1) for _ in range(dimension)],
                   SparseVector([n % 7], [1.0]), {"doc_id": f"d{n % 50}", "content_hash": "h"})
        for n in range(12_000)
    ]  # fmt: skip

    def graphs() -> list[Path]:
        return list((tmp_path / NAME).glob("segments/*/vector_index-dense/graph.bin"))

    index.write(chunks[:6000])
    assert not graphs()
    index.write(chunks[6000:])
    graph = shards.open_graph(NAME, chunks_config(dimension), {})
    graph.wait_built(300)
    assert graph.last_build is not None and graphs()
    found = [index.dense_search(chunk.dense, 1, {}, None)[0].point_id == chunk.point_id for chunk in chunks[::600]]
    assert sum(found) >= len(found) - 1
    shards.close()


def shard_with(path: Path, ids: list[int]) -> None:
    shard = EdgeShard.create(str(path), chunks_config(DIMENSION))
    rng = random.Random(len(ids))
    shard.update(UpdateOperation.upsert_points([Point(i, {"dense": vector(rng)}, {}) for i in ids]))
    shard.flush()
    shard.close()


@pytest.mark.parametrize(
    ("crashed", "loaded"),
    [
        ("while the copy was built", "live"),
        ("once the copy was ready, before the swap", "copy"),
        ("between the two renames", "copy"),
        ("after the renames, before the mark was removed", "copy"),
    ],
)
def test_a_swap_a_crash_interrupted_is_finished_and_a_build_it_cut_short_is_discarded(
    tmp_path: Path, crashed: str, loaded: str
) -> None:
    path = tmp_path / NAME
    following, ready, previous = swap_paths(path)
    shard_with(path, [1])  # the live index: one chunk
    shard_with(following, [1, 2])  # the copy, with a write applied to it: two
    if crashed != "while the copy was built":
        ready.touch()
    if crashed == "between the two renames":
        path.rename(previous)
    if crashed == "after the renames, before the mark was removed":
        path.rename(previous)
        following.rename(path)
    shard = GraphShard(path, chunks_config(DIMENSION), 0)
    assert shard.count() == (2 if loaded == "copy" else 1)
    assert not any(leftover.exists() for leftover in (following, ready, previous))
    shard.close()


def test_closing_during_a_build_stops_it_and_discards_the_copy(tmp_path: Path) -> None:
    builder = HeldBuilder()
    shards = EdgeShards(tmp_path, graph_after_chunks=50, graph_builder=builder)
    index = EdgeChunkIndex(shards, NAME)
    index.ensure(DIMENSION)
    index.write(points("a", 60, random.Random(2)))
    assert builder.started.wait(10)
    started = time.monotonic()
    shards.close()  # never released: the close stops it
    assert time.monotonic() - started < 10
    assert not any(path.exists() for path in swap_paths(tmp_path / NAME))
    reopened = EdgeShards(tmp_path)
    again = EdgeChunkIndex(reopened, NAME)
    again.ensure(DIMENSION)
    assert again.count() == 60
    reopened.close()


def test_a_build_that_fails_leaves_the_index_as_it_was_and_the_next_is_tried_later(tmp_path: Path) -> None:
    tried: list[Path] = []

    def failing(folder: Path, stopping: threading.Event) -> bool:
        tried.append(folder)
        raise OSError("no space left on device")

    rng = random.Random(5)
    shards = EdgeShards(tmp_path, graph_after_chunks=50, graph_builder=failing)
    index = EdgeChunkIndex(shards, NAME)
    index.ensure(DIMENSION)
    first = points("a", 60, rng)
    index.write(first)
    graph = shards.open_graph(NAME, chunks_config(DIMENSION), {})
    graph.wait_built(30)
    assert len(tried) == 1 and graph.last_build is None
    assert not any(path.exists() for path in swap_paths(tmp_path / NAME))
    assert index.count() == 60 and top(index, first[0].dense) == "a"
    index.write(points("b", 60, rng))  # as many chunks again: tried again
    graph.wait_built(30)
    assert len(tried) == 2 and index.count() == 120
    shards.close()


def test_the_build_process_ends_with_the_retriever_that_started_it(tmp_path: Path) -> None:
    """A retriever killed mid-build leaves no process optimizing a copy its next start discards."""
    folder = tmp_path / "copy"
    shard = EdgeShard.create(str(folder), chunks_config(384))
    rng = random.Random(3)
    for start in range(0, 30_000, 1000):  # long enough to build that the kill lands mid-build
        batch = [Point(i, {"dense": [rng.random() for _ in range(384)]}, {}) for i in range(start, start + 1000)]
        shard.update(UpdateOperation.upsert_points(batch))
    shard.flush()
    shard.close()
    starter = (
        "import os, subprocess, sys, time; child = subprocess.Popen([sys.executable, '-m', "
        f"'tutorbook_retriever.clients.edge.graph_build', {str(folder)!r}, str(os.getpid())]); "
        "print(child.pid, flush=True); time.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", starter], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    time.sleep(1)
    assert alive(child)  # building
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 3  # the build alone would take far longer
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child)


def alive(pid: int) -> bool:
    """Running (a zombie the test's own process has not reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_waiting_for_the_index_returns_at_once_where_nothing_is_being_built(tmp_path: Path) -> None:
    """Benchmarks wait for the index searches will use: on an Edge index below the setting, and on
    qdrant-client's local mode (no optimizer), there is nothing to wait for."""
    shards = EdgeShards(tmp_path / "edge", graph_after_chunks=1000)
    edge = EdgeChunkIndex(shards, NAME)
    edge.ensure(DIMENSION)
    edge.write(points("a", 10, random.Random(4)))
    qdrant = open_qdrant("", "", tmp_path / "local")
    local = QdrantChunkIndex(qdrant, NAME)
    local.ensure(DIMENSION)
    local.write(points("a", 10, random.Random(4)))
    started = time.monotonic()
    edge.wait_indexed(60)
    local.wait_indexed(60)
    assert time.monotonic() - started < 5
    shards.close()
    qdrant.close()
