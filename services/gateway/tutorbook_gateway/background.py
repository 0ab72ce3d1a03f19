"""Work that outlives the request that started it."""

import asyncio
from collections.abc import Awaitable
from typing import Any


class BackgroundTasks:
    """Work that outlives a response (saving a finished stream's turns): kept referenced until done."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
