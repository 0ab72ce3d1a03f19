"""The router's own route-example sets: small talk (sent to plain prompting) and off-topic requests
(general knowledge, other businesses' tasks: the router abstains on them).

They live in the retriever's route collection beside the adapters' examples, so one embedding of the
question scores them all. The gateway puts them there when it starts (and keeps trying until the
retriever answers); until then it is not ready. The router also remembers the questions it decided were
small talk, so it can still recognise them while the retriever is down (:mod:`tutorbook_gateway.chat.planning`).
"""

import asyncio
import logging
from importlib import resources

from tutorbook_gateway.clients.retriever import RetrieverClient
from tutorbook_gateway.routing import OFF_TOPIC, SMALL_TALK
from tutorbook_service.errors import ServiceError

log = logging.getLogger("tutorbook.route_examples")
RETRY_SECONDS = 2.0


def read_examples(file_name: str) -> list[str]:
    text = resources.files("tutorbook_gateway").joinpath(f"route_examples/{file_name}").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def builtin_route_examples() -> dict[str, list[str]]:
    """The router's own example sets: small talk (-> prompt) and off-topic requests (-> abstain)."""
    return {SMALL_TALK: read_examples("small_talk.txt"), OFF_TOPIC: read_examples("off_topic.txt")}


class RouteExampleSeeder:
    def __init__(self, retriever: RetrieverClient, example_sets: dict[str, list[str]]) -> None:
        self._retriever = retriever
        self._example_sets = example_sets
        self.done = asyncio.Event()

    async def run(self, retry_seconds: float = RETRY_SECONDS) -> None:
        for name, examples in self._example_sets.items():
            while True:
                try:
                    await self._retriever.put_route_examples(name, examples)
                    break
                except ServiceError as exc:
                    log.warning("route examples %s not stored yet (retrying): %s", name, exc.message)
                    await asyncio.sleep(retry_seconds)
            log.info("route examples stored", extra={"set": name, "examples": len(examples)})
        self.done.set()

    async def check(self) -> None:
        """Readiness: the router can only recognise small talk and off-topic requests once these are stored."""
        if not self.done.is_set():
            raise RuntimeError("the router's route examples are not stored yet")
