"""The chunk shard's HNSW graph, built by another process and swapped in while searches go on.

Edge builds an HNSW graph only in ``optimize()``, which holds the interpreter's lock until it returns
(52 s at 250,000 chunks on 2 cores): run in the retriever, every request would stop for it. Until a graph
is built, a dense search reads every vector, and its time grows with the index (docs/retriever.md). So
once ``graph_after_chunks`` chunks have been written since the last graph, :class:`GraphShard`

1. copies the shard's folder (writes wait for the copy; searches do not);
2. has another process (``python -m tutorbook_retriever.clients.edge.graph_build``, at a lower priority)
   load the copy and optimize it, while this one serves searches and writes from the live shard and
   notes what it writes (:class:`Journal`: deletions as made, and the ids of points written);
3. brings the copy up to date (writes wait from here): the deletions again, then each noted point as the
   live shard holds it now (or deleted, when it is gone); marks it ready, and swaps the folders: searches
   pause only for this last step (closing one shard, two renames, loading the other).

A crash leaves at most a copy beside the shard: :func:`recover_swap`, run before the shard is loaded,
finishes a swap whose copy was marked ready (it holds every acknowledged write), and discards anything
else. Writes acknowledged during a build are durable in the live shard all along.
"""

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qdrant_edge import CountRequest, EdgeConfig, EdgeShard, Point, UpdateOperation

from tutorbook_retriever.clients.edge.graph_folders import (
    chunks_when_built,
    discard,
    load_or_create,
    record_built,
    recover_swap,
    swap_folders,
    swap_paths,
    sync_folder,
)

log = logging.getLogger(__name__)
# Builds the graph of the shard in a folder; True when built (False: it failed, or the event asked it to stop).
CATCH_UP_BATCH = 1000  # points read from the live shard and written to the copy at a time
GraphBuilder = Callable[[Path, threading.Event], bool]


def build_in_process(folder: Path, stopping: threading.Event) -> bool:
    """The default builder: another Python process optimizes the shard in ``folder``; stopped (and
    False) when ``stopping`` is set."""
    command = [sys.executable, "-m", "tutorbook_retriever.clients.edge.graph_build", str(folder), str(os.getpid())]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    while process.poll() is None:
        if stopping.wait(0.2):
            process.kill()
            process.wait()
            return False
    return process.returncode == 0


class SwapGate:
    """Searches run together; a swap waits for those under way and holds new ones back until it is done."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._searches = 0
        self._swapping = False

    @contextmanager
    def searching(self) -> Iterator[None]:
        with self._condition:
            self._condition.wait_for(lambda: not self._swapping)
            self._searches += 1
        try:
            yield
        finally:
            with self._condition:
                self._searches -= 1
                self._condition.notify_all()

    @contextmanager
    def swapping(self) -> Iterator[None]:
        with self._condition:
            self._swapping = True
            self._condition.wait_for(lambda: self._searches == 0)
        try:
            yield
        finally:
            with self._condition:
                self._swapping = False
                self._condition.notify_all()


@dataclass
class Journal:
    """What was written while a copy was built: deletions by filter, as they were made, and the ids of the
    points written (their vectors and payloads are read from the live shard when the copy catches up: the
    memory a long build needs is for ids only)."""

    deletions: list[UpdateOperation] = field(default_factory=list)
    written: set[str] = field(default_factory=set)

    def note(self, operation: UpdateOperation, written: Sequence[str]) -> None:
        if written:
            self.written.update(written)
        else:
            self.deletions.append(operation)

    @property
    def size(self) -> int:
        return len(self.deletions) + len(self.written)

    def catch_up(self, copy: EdgeShard, live: Any) -> None:
        """Make ``copy`` hold what ``live`` holds: the deletions again (a point they remove from the copy
        and not from the live shard was written since, and is written again below), then each point written
        as ``live`` holds it now, or deleted when it has gone since."""
        for operation in self.deletions:
            copy.update(operation)
        ids = sorted(self.written)
        for start in range(0, len(ids), CATCH_UP_BATCH):
            batch = ids[start : start + CATCH_UP_BATCH]
            records = live.retrieve(batch, True, True)
            if records:
                copy.update(UpdateOperation.upsert_points([Point(r.id, r.vector, r.payload) for r in records]))
            gone = set(batch) - {str(record.id) for record in records}
            if gone:
                copy.update(UpdateOperation.delete_points(sorted(gone)))


@dataclass(frozen=True)
class BuildReport:
    chunks: int  # in the copy the graph was built on
    seconds: float  # from the copy to the swap
    writes: int  # deletions and points written while it was built, then applied to it
    paused_ms: float  # searches held back for the swap


class GraphShard:
    """The chunk shard, whose graph is rebuilt beside it once ``build_after`` chunks were written since the
    last one (0: never). Reads and writes as :class:`EdgeShard`; ``update`` also takes the ids of the
    points it writes."""

    def __init__(
        self, path: Path, config: EdgeConfig, build_after: int, builder: GraphBuilder = build_in_process
    ) -> None:
        recover_swap(path)
        self._shard = load_or_create(path, config)
        self.path, self._config, self._build_after, self._builder = path, config, build_after, builder
        self._gate, self._writing, self._stopping = SwapGate(), threading.Lock(), threading.Event()
        self._journal: Journal | None = None  # what was written while a copy is built
        self._unbuilt = max(0, self.count() - chunks_when_built(path))
        self._build: threading.Thread | None = None
        self.last_build: BuildReport | None = None

    def query(self, request: Any) -> Any:
        with self._gate.searching():
            return self._shard.query(request)

    def scroll(self, request: Any) -> Any:
        with self._gate.searching():
            return self._shard.scroll(request)

    def retrieve(self, *args: Any) -> Any:
        with self._gate.searching():
            return self._shard.retrieve(*args)

    def info(self) -> Any:
        with self._gate.searching():
            return self._shard.info()

    def count(self, request: CountRequest | None = None) -> int:
        with self._gate.searching():
            return int(self._shard.count(request or CountRequest(exact=True)))

    def update(self, operation: UpdateOperation, written: Sequence[str] = ()) -> None:
        with self._writing, self._gate.searching():
            self._shard.update(operation)
            if self._journal is not None:
                self._journal.note(operation, written)
            self._unbuilt += len(written)
        self.build_when_due()

    def build_when_due(self) -> None:
        """Start a build when enough chunks were written since the last."""
        if 0 < self._build_after <= self._unbuilt:
            self.start_build()

    def start_build(self) -> None:
        """Build a graph in the background (unless one is being built, or the shard is closing)."""
        with self._writing:
            if not self.building and not self._stopping.is_set():
                self._build = threading.Thread(target=self._rebuild, name="graph-build", daemon=True)
                self._build.start()

    @property
    def building(self) -> bool:
        return self._build is not None and self._build.is_alive()

    def wait_built(self, timeout: float | None = None) -> None:
        """Until the builds under way (if any) have ended (tests and benchmarks)."""
        if self._build is not None:
            self._build.join(timeout)

    def flush(self) -> None:
        with self._writing, self._gate.searching():
            self._shard.flush()

    def close(self) -> None:
        """Stops a build under way (its copy is discarded), then flushes and closes the shard."""
        self._stopping.set()
        self.wait_built()
        with self._writing, self._gate.swapping():
            self._shard.flush()
            self._shard.close()

    def _rebuild(self) -> None:
        """Build and swap in graphs until fewer than ``build_after`` chunks were written meanwhile. A build
        that fails leaves the live shard as it was (and stops noting writes); the next starts when as many
        chunks again have been written."""
        try:
            while self._build_once() and 0 < self._build_after <= self._unbuilt and not self._stopping.is_set():
                pass
        except Exception:
            log.exception("the graph build of %s failed", self.path.name)
            with self._writing:
                self._journal = None
            discard(swap_paths(self.path)[0])

    def _build_once(self) -> bool:
        following, ready, previous = swap_paths(self.path)
        started = time.monotonic()
        with self._writing:
            self._shard.flush()
            discard(following)
            shutil.copytree(self.path, following)
            self._journal, chunks, self._unbuilt = Journal(), self.count(), 0
        log.info("building the graph of %s (%d chunks) in another process", self.path.name, chunks)
        if not self._builder(following, self._stopping):
            with self._writing:
                self._journal = None
            discard(following)
            log.warning("the graph of %s was not built (stopped, or the build failed)", self.path.name)
            return False
        self._swap_in(following, ready, previous, chunks, started)
        return True

    def _swap_in(self, following: Path, ready: Path, previous: Path, chunks: int, started: float) -> None:
        with self._writing:
            built = EdgeShard.load(str(following), self._config)
            journal = self._journal or Journal()
            journal.catch_up(built, self._shard)
            built.flush()
            built.close()
            self._journal = None
            ready.touch()
            sync_folder(self.path.parent)
            paused = time.monotonic()
            with self._gate.swapping():
                self._shard.close()
                swap_folders(self.path)
                self._shard = EdgeShard.load(str(self.path), self._config)
            paused = time.monotonic() - paused
        discard(previous)
        record_built(self.path, chunks)
        self.last_build = BuildReport(chunks, time.monotonic() - started, journal.size, paused * 1000)
        log.info(
            "swapped in the graph of %s (%d chunks) after %.1f s: %d writes applied to it, searches paused %.0f ms",
            self.path.name, chunks, self.last_build.seconds, journal.size, self.last_build.paused_ms,
        )  # fmt: skip
