"""``python tests/integration/retriever_probe.py <folder>``: the retriever (as ``python -m tutorbook_retriever``)
with a probe in its ingestion, for the ``kill -9`` tests, so that a kill lands in the phase a test names,
never before the batch arrived nor after it was answered.

When ``<folder>/pause-at`` names a phase, the ingestion that reaches it writes ``<folder>/paused-at`` (the
phase) and waits there, until it is killed. The phases, in the order ingestion passes them:

- ``chunks-written``: a batch's chunks are in the index; no document record points at them yet;
- ``switched``: the documents' records point at the new chunks; the old chunks are not deleted yet and the
  index version is not bumped.
"""

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tutorbook_retriever.__main__ import main
from tutorbook_retriever.clients.edge.chunks import EdgeChunkIndex
from tutorbook_retriever.clients.edge.registry import EdgeDocumentRegistry


def pause_if_asked(folder: Path, phase: str) -> None:
    try:
        wanted = (folder / "pause-at").read_text().strip()
    except FileNotFoundError:
        return
    if wanted == phase:
        written = folder / "paused-at.tmp"
        written.write_text(phase)
        written.replace(folder / "paused-at")  # whole, for the test that waits for it
        time.sleep(3600)  # held here until the test kills the process


def then_pause(method: Callable[..., Any], folder: Path, phase: str) -> Callable[..., Any]:
    def probed(*args: Any, **kwargs: Any) -> Any:
        result = method(*args, **kwargs)
        pause_if_asked(folder, phase)
        return result

    return probed


if __name__ == "__main__":
    probe_folder = Path(sys.argv[1])
    EdgeChunkIndex.write = then_pause(EdgeChunkIndex.write, probe_folder, "chunks-written")  # type: ignore[method-assign]
    EdgeDocumentRegistry.put = then_pause(EdgeDocumentRegistry.put, probe_folder, "switched")  # type: ignore[method-assign]
    main()
