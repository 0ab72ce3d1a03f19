"""``python -m tutorbook_retriever.clients.edge.graph_build FOLDER PARENT_PID``: build the HNSW graph of the
Edge shard in FOLDER (a copy of the live shard, :mod:`tutorbook_retriever.clients.edge.graph`), at a lower
priority than the retriever that serves searches meanwhile, and never after the retriever has gone (its
next start discards the copy)."""

import ctypes
import os
import signal
import sys

from qdrant_edge import EdgeShard

PR_SET_PDEATHSIG = 1


def die_with(parent: int) -> None:
    """Killed when the parent ends, however it ends (Linux); gone already if it has."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        sys.exit(1)


def main() -> None:
    folder, parent = sys.argv[1], int(sys.argv[2])
    die_with(parent)
    os.nice(10)
    shard = EdgeShard.load(folder)
    shard.optimize()
    shard.flush()
    shard.close()


if __name__ == "__main__":
    main()
