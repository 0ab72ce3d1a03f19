"""Load shedding in front of the generator. vLLM queues whatever it is sent, so past its capacity every
request waits longer until all of them time out together. Instead, each gateway process lets at most
``in_flight`` generations run at once and ``waiting`` more wait, each for at most ``wait_seconds``;
anything beyond gets a 503 at once with ``Retry-After``, which the OpenAI SDKs honour. Requests that
need no generation (cache hits, abstentions) never wait here."""

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tutorbook_gateway.clients.generator import ChunkStream, GeneratorClient
from tutorbook_service.errors import ServiceUnavailableError

SERVICE = "generator"


class GeneratorBusyError(ServiceUnavailableError):
    code = "generator_busy"

    def __init__(self, detail: str, retry_after_seconds: float) -> None:
        super().__init__(f"the generator is at capacity ({detail}); try again shortly")
        self.service = SERVICE
        self.headers = {"Retry-After": str(max(1, math.ceil(retry_after_seconds)))}


@dataclass(frozen=True)
class Capacity:
    in_flight: int  # 0: no limit
    waiting: int
    wait_seconds: float


class GenerationSlots:
    def __init__(self, capacity: Capacity) -> None:
        self.capacity = capacity
        self._free = asyncio.Semaphore(max(capacity.in_flight, 1))
        self.waiting = 0

    async def acquire(self) -> None:
        if self.capacity.in_flight <= 0:
            return
        if self._free.locked() and self.waiting >= self.capacity.waiting:
            raise GeneratorBusyError(
                f"{self.capacity.in_flight} generating and {self.waiting} waiting", self.capacity.wait_seconds
            )
        self.waiting += 1
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that arrives as
            # the slot is granted, and the slot would never come back.
            async with asyncio.timeout(self.capacity.wait_seconds):
                await self._free.acquire()
        except TimeoutError:
            detail = f"no generation slot within {self.capacity.wait_seconds:g} s"
            raise GeneratorBusyError(detail, self.capacity.wait_seconds) from None
        finally:
            self.waiting -= 1

    def release(self) -> None:
        if self.capacity.in_flight > 0:
            self._free.release()


class SlotStream:
    """The inner stream; its slot is given back once, when it ends or is closed."""

    def __init__(self, inner: ChunkStream, slots: GenerationSlots) -> None:
        self._inner = inner
        self._slots: GenerationSlots | None = slots

    def _give_back(self) -> None:
        if self._slots is not None:
            self._slots.release()
            self._slots = None

    async def chunks(self) -> AsyncIterator[dict[str, Any]]:
        try:
            async for chunk in self._inner.chunks():
                yield chunk
        finally:
            self._give_back()

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._give_back()


class SlotBoundGenerator:
    """A ``GeneratorClient`` whose generations each hold one of ``slots`` while they run."""

    def __init__(self, inner: GeneratorClient, slots: GenerationSlots) -> None:
        self._inner = inner
        self.slots = slots

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self._in_a_slot(lambda: self._inner.chat_completion(payload))

    async def completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self._in_a_slot(lambda: self._inner.completion(payload))

    async def _in_a_slot(self, call: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        await self.slots.acquire()
        try:
            return await call()
        finally:
            self.slots.release()

    async def tokenize(self, payload: dict[str, Any]) -> list[int]:
        return await self._inner.tokenize(payload)

    async def open_chat_stream(self, payload: dict[str, Any]) -> ChunkStream:
        await self.slots.acquire()
        try:
            stream = await self._inner.open_chat_stream(payload)
        except BaseException:
            self.slots.release()
            raise
        return SlotStream(stream, self.slots)

    async def list_models(self) -> list[dict[str, Any]]:
        return await self._inner.list_models()

    async def ping(self) -> None:
        await self._inner.ping()
