"""The small-talk examples: the route-example set that sends general conversation to plain prompting.

They live in the retriever's route collection beside the adapters' examples, so one embedding of the
question scores them all. The gateway puts them there when it starts (and keeps trying until the
retriever answers); until then it is not ready.
"""

import asyncio
import logging
from importlib import resources

from tutorbook_common.errors import ServiceError
from tutorbook_gateway.clients.retriever import RetrieverClient
from tutorbook_gateway.routing import SMALL_TALK

log = logging.getLogger("tutorbook.small_talk")
RETRY_SECONDS = 2.0


def small_talk_examples() -> list[str]:
    text = resources.files("tutorbook_gateway").joinpath("data/small_talk.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


class SmallTalkSeeder:
    def __init__(self, retriever: RetrieverClient, examples: list[str]) -> None:
        self._retriever = retriever
        self._examples = examples
        self.done = asyncio.Event()

    async def run(self, retry_seconds: float = RETRY_SECONDS) -> None:
        while True:
            try:
                await self._retriever.put_route_examples(SMALL_TALK, self._examples)
            except ServiceError as exc:
                log.warning("small-talk examples not stored yet (retrying): %s", exc.message)
                await asyncio.sleep(retry_seconds)
                continue
            self.done.set()
            log.info("small-talk examples stored", extra={"examples": len(self._examples)})
            return

    async def check(self) -> None:
        """Readiness: the router can only recognise small talk once its examples are stored."""
        if not self.done.is_set():
            raise RuntimeError("small-talk route examples not stored yet")
