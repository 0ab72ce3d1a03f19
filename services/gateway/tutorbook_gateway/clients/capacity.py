"""Load shedding in front of the generator. vLLM queues whatever it is sent, so past its capacity every
request waits longer until all of them time out together. Instead, each gateway process lets at most
``in_flight`` generations run at once and ``waiting`` more wait, each for at most ``wait_seconds``;
anything beyond gets a 503 at once with ``Retry-After``, which the OpenAI SDKs honour. Requests that
need no generation (cache hits, abstentions) never wait here."""

import asyncio
import itertools
import math
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
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


# Whose generation asks for a slot: the chat path sets it once per request (the key's owner name), and the
# tasks it starts inherit it; nothing else needs to hand it down.
GENERATION_OWNER: ContextVar[str] = ContextVar("generation_owner", default="")
BACKGROUND_OWNER = "tutorbook:background"  # whose slot background work holds
BACKGROUND_PRIORITY = 1  # vLLM's request priority for it (lower goes first; users' requests are 0)


@dataclass
class Waiter:
    order: int  # when it started waiting
    granted: asyncio.Future[None]


class GenerationSlots:
    """``in_flight`` slots shared fairly between keys: a freed slot goes to the waiting key that holds the
    fewest, then to the one given the fewest since keys started waiting (turn by turn), then to the longest
    waiting; so one key sending many requests at once takes every slot only while nobody else waits. The
    ``waiting`` places are shared the same way: when they are full, a newcomer takes the place of the newest
    waiter of the key that has the most."""

    def __init__(self, capacity: Capacity) -> None:
        self.capacity = capacity
        self.in_use = 0
        self._held: Counter[str] = Counter()
        self._served: Counter[str] = Counter()  # slots given since the waiting room was last empty
        self._queues: dict[str, deque[Waiter]] = {}
        self._order = itertools.count()
        self.user_arrived = asyncio.Event()  # set, and replaced, when a user's generation asks for a slot
        self._users_changed_at = time.monotonic()  # a user's generation last started or ended

    def quiet_seconds(self) -> float:
        """How long no user's generation has run or waited here (0 while one does)."""
        if self.in_use or self._queues:
            return 0.0
        return time.monotonic() - self._users_changed_at

    def _user_came(self) -> None:
        self._users_changed_at = time.monotonic()
        arrived, self.user_arrived = self.user_arrived, asyncio.Event()
        arrived.set()

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._queues.values())

    async def acquire(self) -> str:
        """Wait for a slot for the current owner (:data:`GENERATION_OWNER`); returns whose slot it is, for
        :meth:`release`."""
        owner = GENERATION_OWNER.get()
        self._user_came()
        if self.capacity.in_flight <= 0:
            return owner
        if self.in_use < self.capacity.in_flight and not self._queues:
            self._served.clear()  # nobody waits: turns start again
            self._take(owner)
            return owner
        if self.waiting >= self.capacity.waiting and not self._make_room_for(owner):
            detail = f"{self.capacity.in_flight} generating and {self.waiting} waiting"
            raise GeneratorBusyError(detail, self.capacity.wait_seconds)
        waiter = Waiter(next(self._order), asyncio.get_running_loop().create_future())
        self._queues.setdefault(owner, deque()).append(waiter)
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that arrives as
            # the slot is granted, and the slot would never come back.
            async with asyncio.timeout(self.capacity.wait_seconds):
                await waiter.granted
            return owner
        except TimeoutError:
            self._give_up(owner, waiter)
            detail = f"no generation slot within {self.capacity.wait_seconds:g} s"
            raise GeneratorBusyError(detail, self.capacity.wait_seconds) from None
        except BaseException:
            self._give_up(owner, waiter)
            raise

    def take_idle(self, owner: str, alone: bool = True) -> bool:
        """A slot only when no user's generation runs or waits here (background work: a rollout's shadow
        answers, which give way to a user who comes: :attr:`user_arrived`); not ``alone``: when nobody
        waits and one more slot stays free. False: none taken."""
        if self.capacity.in_flight <= 0:
            return True
        if self._queues or (self.in_use if alone else self.in_use + 1 >= self.capacity.in_flight):
            return False
        self._take(owner)
        return True

    def release(self, owner: str) -> None:
        if self.capacity.in_flight > 0:
            self._release(owner)

    def _take(self, owner: str) -> None:
        self.in_use += 1
        self._held[owner] += 1
        self._served[owner] += 1

    def _release(self, owner: str) -> None:
        if owner != BACKGROUND_OWNER:
            self._users_changed_at = time.monotonic()
        self.in_use -= 1
        self._held[owner] -= 1
        if self._held[owner] <= 0:
            del self._held[owner]
        self._grant()

    def _grant(self) -> None:
        while self.in_use < self.capacity.in_flight and self._queues:
            owner = min(self._queues, key=self._turn)
            waiter = self._pop(owner)
            if not waiter.granted.done():
                self._take(owner)
                waiter.granted.set_result(None)

    def _turn(self, owner: str) -> tuple[int, int, int]:
        return self._held[owner], self._served[owner], self._queues[owner][0].order

    def _pop(self, owner: str, newest: bool = False) -> Waiter:
        queue = self._queues[owner]
        waiter = queue.pop() if newest else queue.popleft()
        if not queue:
            del self._queues[owner]
        return waiter

    def _give_up(self, owner: str, waiter: Waiter) -> None:
        """A waiter that stops waiting: out of the queue, or, granted as it gave up, its slot given back."""
        if waiter.granted.done() and not waiter.granted.cancelled() and waiter.granted.exception() is None:
            self._release(owner)
            return
        queue = self._queues.get(owner)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del self._queues[owner]

    def _make_room_for(self, owner: str) -> bool:
        """Full: the key with the most waiting (and more than the newcomer's key would have) gives up its
        newest place (503), or nobody does."""

        def share(name: str) -> int:
            return len(self._queues.get(name, ())) + self._held[name]

        greediest = max(self._queues, key=share, default=None)
        if greediest is None or greediest == owner or share(greediest) <= share(owner) + 1:
            return False
        evicted = self._pop(greediest, newest=True)
        detail = f"a waiting place was given to another key; {self.capacity.in_flight} generating"
        evicted.granted.set_exception(GeneratorBusyError(detail, self.capacity.wait_seconds))
        return True


class SlotStream:
    """The inner stream; its slot is given back once, when it ends or is closed."""

    def __init__(self, inner: ChunkStream, slots: GenerationSlots, owner: str) -> None:
        self._inner = inner
        self._slots: GenerationSlots | None = slots
        self._owner = owner

    def _give_back(self) -> None:
        if self._slots is not None:
            self._slots.release(self._owner)
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
    """A ``GeneratorClient`` whose generations each hold one of ``slots`` while they run. ``idle_only``: a
    generation that would delay a user's (:meth:`GenerationSlots.take_idle`) is refused at once with
    :class:`GeneratorBusyError` instead of waiting (background work)."""

    def __init__(
        self, inner: GeneratorClient, slots: GenerationSlots, idle_only: bool = False, alone: bool = True
    ) -> None:
        self._inner = inner
        self.slots = slots
        self.idle_only = idle_only
        self.alone = alone

    def in_the_background(self, alone: bool = True) -> "SlotBoundGenerator":
        """The same generator and slots, for work that only takes a slot nobody needs (``alone``: only
        while no user's generation runs here)."""
        return SlotBoundGenerator(self._inner, self.slots, idle_only=True, alone=alone)

    async def _acquire(self) -> str:
        if not self.idle_only:
            return await self.slots.acquire()
        if not self.slots.take_idle(BACKGROUND_OWNER, self.alone):
            raise GeneratorBusyError("no idle generation slot for background work", 0.0)
        return BACKGROUND_OWNER

    def _prioritised(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Background work asks vLLM to schedule users first (the generator runs ``--scheduling-policy
        priority``): a user's request that arrives meanwhile is scheduled before it."""
        return {**payload, "priority": BACKGROUND_PRIORITY} if self.idle_only else payload

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self._in_a_slot(lambda: self._inner.chat_completion(self._prioritised(payload)))

    async def completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        return await self._in_a_slot(lambda: self._inner.completion(self._prioritised(payload)))

    async def _in_a_slot(self, call: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        owner = await self._acquire()
        try:
            return await call()
        finally:
            self.slots.release(owner)

    async def tokenize(self, payload: dict[str, Any]) -> list[int]:
        return await self._inner.tokenize(payload)

    async def open_chat_stream(self, payload: dict[str, Any]) -> ChunkStream:
        owner = await self._acquire()
        try:
            stream = await self._inner.open_chat_stream(self._prioritised(payload))
        except BaseException:
            self.slots.release(owner)
            raise
        return SlotStream(stream, self.slots, owner)

    async def list_models(self) -> list[dict[str, Any]]:
        return await self._inner.list_models()

    async def ping(self) -> None:
        await self._inner.ping()
