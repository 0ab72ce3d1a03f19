"""Work that outlives the request that started it."""

import asyncio
import contextvars
import logging
from collections.abc import Coroutine
from typing import Any

from tutorbook_gateway.state.backend import ROUND_TRIPS

log = logging.getLogger("tutorbook.background")
DRAIN_SECONDS = 5.0


class BackgroundTasks:
    """Work that outlives a response (saving a finished stream's turns, unloading a replaced adapter after
    its grace period): kept referenced until done."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        context = contextvars.copy_context()
        context.run(ROUND_TRIPS.set, None)  # no longer on the request's path
        task = asyncio.get_running_loop().create_task(work, context=context)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, seconds: float = DRAIN_SECONDS) -> None:
        """At shutdown: what finishes within ``seconds`` finishes; the rest (a replaced adapter still in its
        grace period stays loaded) is cancelled, so the process stops in time."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=seconds)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("background work cancelled at shutdown", extra={"tasks": len(pending)})
            await asyncio.gather(*pending, return_exceptions=True)
