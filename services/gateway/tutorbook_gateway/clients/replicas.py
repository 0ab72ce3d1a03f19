"""Generation over several generator replicas (``TUTORBOOK_GATEWAY_UPSTREAMS__GENERATOR_REPLICAS``, two URLs or more).

Each request goes to the next replica in turn among those not set aside. A replica that refuses or drops
the connection, or whose circuit is open, is set aside for ``down_seconds`` and the request is sent to the
next one: nothing had been generated yet, so nothing is lost or said twice. A replica that does not serve
the requested model (an adapter it failed to load) is skipped for that request only. When every replica
fails, the last failure is the answer. Behind a Kubernetes Service (one URL) the Service balances instead.
"""

import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tutorbook_gateway.clients.generator import ChunkStream, GeneratorClient
from tutorbook_gateway.clients.upstream import ModelNotServedError, UpstreamUnreachableError

T = TypeVar("T")


@dataclass(frozen=True)
class Replica:
    url: str
    client: GeneratorClient


class BalancedGenerator:
    def __init__(
        self,
        replicas: list[Replica],
        down_seconds: float,
        on_skip: Callable[[str, str], None] = lambda url, reason: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._replicas = replicas
        self._down_seconds = down_seconds
        self._on_skip = on_skip
        self._clock = clock
        self._turn = itertools.count()
        self._down_until: dict[str, float] = {}

    def order(self, take_turn: bool = True) -> list[Replica]:
        """The replicas to try, starting at the next in turn (probes and listings do not take a turn, so
        generations alternate): those up first, those set aside last."""
        start = (next(self._turn) if take_turn else self._next_turn()) % len(self._replicas)
        rotated = self._replicas[start:] + self._replicas[:start]
        now = self._clock()
        return sorted(rotated, key=lambda replica: self._down_until.get(replica.url, 0.0) > now)

    async def _first_that_answers(self, call: Callable[[GeneratorClient], Awaitable[T]]) -> T:
        failure: Exception | None = None
        for replica in self.order():
            try:
                result = await call(replica.client)
            except UpstreamUnreachableError as exc:
                self._down_until[replica.url] = self._clock() + self._down_seconds
                self._on_skip(replica.url, exc.code or "unreachable")
                failure = exc
                continue
            except ModelNotServedError as exc:
                self._on_skip(replica.url, exc.code or "model_not_served")
                failure = exc
                continue
            self._down_until.pop(replica.url, None)
            return result
        assert failure is not None
        raise failure

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self._first_that_answers(lambda client: client.chat_completion(payload))

    async def open_chat_stream(self, payload: dict[str, Any]) -> ChunkStream:
        return await self._first_that_answers(lambda client: client.open_chat_stream(payload))

    async def completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self._first_that_answers(lambda client: client.completion(payload))

    async def tokenize(self, payload: dict[str, Any]) -> list[int]:
        return await self._first_that_answers(lambda client: client.tokenize(payload))

    async def list_models(self) -> list[dict[str, Any]]:
        return await self._any(lambda client: client.list_models())

    async def ping(self) -> None:
        """Ready when any replica is."""
        await self._any(lambda client: client.ping())

    def _next_turn(self) -> int:
        upcoming = next(self._turn)
        self._turn = itertools.count(upcoming)  # put it back
        return upcoming

    async def _any(self, call: Callable[[GeneratorClient], Awaitable[T]]) -> T:
        failure: Exception | None = None
        for replica in self.order(take_turn=False):
            try:
                return await call(replica.client)
            except Exception as exc:  # noqa: BLE001 - a probe: the next replica may answer
                failure = exc
        assert failure is not None
        raise failure
