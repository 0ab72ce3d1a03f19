"""What a graph build keeps in step with the live shard (:mod:`tutorbook_retriever.clients.edge.graph`): the
writes made while the copy is built (:class:`Journal`), and the searches around the swap (:class:`SwapGate`)."""

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from qdrant_edge import EdgeShard, Point, UpdateOperation

CATCH_UP_BATCH = 1000  # points read from the live shard and written to the copy at a time


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
