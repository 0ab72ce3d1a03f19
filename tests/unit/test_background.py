"""Work that outlives a response ends with the process: a gateway asked to stop does not wait for work
that would take longer than its drain (a replaced adapter's grace period before it is unloaded)."""

import asyncio

from tutorbook_gateway.background import BackgroundTasks


async def test_shutdown_finishes_quick_work_and_cancels_what_would_hold_it() -> None:
    background, finished = BackgroundTasks(), []

    async def quick() -> None:
        await asyncio.sleep(0.01)
        finished.append("quick")

    async def unload_after_grace() -> None:
        await asyncio.sleep(60)
        finished.append("unloaded")

    background.spawn(quick())
    background.spawn(unload_after_grace())
    await asyncio.wait_for(background.drain(seconds=0.2), timeout=2)
    assert finished == ["quick"]
