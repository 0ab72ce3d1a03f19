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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qdrant_edge import CountRequest, EdgeConfig, EdgeShard, UpdateOperation

from tutorbook_retriever.clients.edge.graph_folders import (
    chunks_when_built,
    discard,
    load_or_create,
    record_built,
    recover_swap,
    swap_folders,
    swap_paths,
    sync_path,
    sync_tree,
)
from tutorbook_retriever.clients.edge.graph_sync import Journal, SwapGate

log = logging.getLogger(__name__)
# Builds the graph of the shard in a folder; True when built (False: it failed, or the event asked it to stop).
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
        self._running = False  # a build thread is under way (set and cleared with _writing held)
        self._live_open = True  # False only between closing the live shard and loading its successor
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
        if self._due:
            self.start_build()

    def start_build(self) -> None:
        """Build a graph in the background (unless one is being built, or the shard is closing)."""
        with self._writing:
            if not self._running and not self._stopping.is_set():
                self._running = True
                self._build = threading.Thread(target=self._rebuild, name="graph-build", daemon=True)
                self._build.start()

    @property
    def _due(self) -> bool:
        """Enough chunks were written since the last graph (and graphs are on)."""
        return 0 < self._build_after <= self._unbuilt

    @property
    def building(self) -> bool:
        return self._running

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
        """Build and swap in graphs until fewer than ``build_after`` chunks were written meanwhile (decided
        with writes held, so a write that makes the next one due is never missed). A build that fails is
        logged and recovered from as a restart would (:meth:`_recover`); the next is tried once as many
        chunks again were written."""
        while True:
            try:
                built = self._build_once()
            except Exception:
                log.exception("the graph build of %s failed", self.path.name)
                self._recover()
                built = False
            with self._writing:
                if not built or self._stopping.is_set() or not self._due:
                    self._running = False
                    return

    def _build_once(self) -> bool:
        following, ready, previous = swap_paths(self.path)
        started = time.monotonic()
        with self._writing:
            ready.unlink(missing_ok=True)  # a mark left by an earlier failure must not bless this copy
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
            try:
                journal = self._journal or Journal()
                journal.catch_up(built, self._shard)
                built.flush()
            finally:
                built.close()
            self._journal = None
            sync_tree(following)
            ready.touch()
            sync_path(self.path.parent)
            paused = time.monotonic()
            with self._gate.swapping():
                self._shard.close()
                self._live_open = False
                swap_folders(self.path)
                self._shard, self._live_open = EdgeShard.load(str(self.path), self._config), True
            paused = time.monotonic() - paused
        discard(previous)
        record_built(self.path, chunks)
        self.last_build = BuildReport(chunks, time.monotonic() - started, journal.size, paused * 1000)
        log.info(
            "swapped in the graph of %s (%d chunks) after %.1f s: %d writes applied to it, searches paused %.0f ms",
            self.path.name, chunks, self.last_build.seconds, journal.size, self.last_build.paused_ms,
        )  # fmt: skip

    def _recover(self) -> None:
        """After a build failed: the folders as a restart would leave them (a copy marked ready finished
        into place, anything else discarded), and the live shard open again if the failure had closed it."""
        following, ready, _ = swap_paths(self.path)
        with self._writing, self._gate.swapping():
            self._journal = None
            if ready.exists() and self._live_open:
                self._shard.close()
                self._live_open = False
            if self._live_open:
                discard(following)
                return
            recover_swap(self.path)
            self._shard, self._live_open = load_or_create(self.path, self._config), True
