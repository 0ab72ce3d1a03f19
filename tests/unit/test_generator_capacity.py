"""Load shedding in front of the generator: past its slots and its waiting room, a request gets a 503
with Retry-After at once (never a pile-up that ends in timeouts); a slot is held for a whole stream and
given back however the stream ends; requests that need no generation never wait."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.conftest import INTERNAL_TOKEN, eventually
from tests.unit.fakes import USER, WARRANTY, FakeGenerator, FakeRetriever, chat
from tutorbook_config.service_settings import configured
from tutorbook_gateway.app import create_app
from tutorbook_gateway.clients.capacity import (
    GENERATION_OWNER,
    Capacity,
    GenerationSlots,
    GeneratorBusyError,
    SlotBoundGenerator,
)
from tutorbook_gateway.settings import GatewaySettings


class GatedGenerator(FakeGenerator):
    """Answers only once ``gate`` is set (from any thread); counts the generations running."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.running = 0
        self.changed = asyncio.Condition()

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        async with self.changed:
            self.running += 1
            self.changed.notify_all()
        try:
            await asyncio.to_thread(self.gate.wait, 30)
            return await super().chat_completion(payload)
        finally:
            self.running -= 1

    async def until_running(self, count: int) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: self.running >= count), 10)


class WatchedSlots(GenerationSlots):
    """Slots that tell a test how many requests have asked for one. ``acquire`` gives a free slot or queues
    the request before it first suspends, so once :meth:`until_asked` returns, each of those requests holds
    a slot or waits for one: no guessing how many scheduler turns that takes."""

    def __init__(self, capacity: Capacity) -> None:
        super().__init__(capacity)
        self.asked = 0
        self._watchers: list[tuple[int, asyncio.Event]] = []

    async def acquire(self) -> str:
        self.asked += 1
        for count, event in self._watchers:
            if self.asked >= count:
                event.set()
        return await super().acquire()

    async def until_asked(self, count: int) -> None:
        event = asyncio.Event()
        self._watchers.append((count, event))
        if self.asked >= count:
            event.set()
        await asyncio.wait_for(event.wait(), 5)


def test_past_its_slots_and_waiting_room_a_request_is_refused_at_once_with_retry_after() -> None:
    generator = GatedGenerator()
    settings = configured(
        GatewaySettings,
        keys__api_keys="user-key-for-tests-0001",
        keys__admin_keys="admin-key-for-tests-0001",
        shared__internal_token=INTERNAL_TOKEN,
        shared__base_model_name="base",
        cache__enabled=False,
        upstreams__generator_max_in_flight=1,
        upstreams__generator_max_waiting=1,
        upstreams__generator_max_wait_seconds=30,
    )
    app = create_app(settings, retriever=FakeRetriever([WARRANTY]), generator=generator)
    with TestClient(app) as client, ThreadPoolExecutor(2) as pool:
        ask = partial(client.post, "/v1/chat/completions", headers=USER)
        first = pool.submit(ask, json=chat("one", "base"))
        eventually(lambda: generator.running == 1, what="the first generation")
        second = pool.submit(ask, json=chat("two", "base"))
        slots = app.state.services.generator.slots
        eventually(lambda: slots.waiting == 1, what="the second request waiting for the slot")
        refused = ask(json=chat("three", "base"))
        assert refused.status_code == 503 and refused.headers["retry-after"] == "30"
        error = refused.json()["error"]
        assert error["code"] == "generator_busy" and "1 generating and 1 waiting" in error["message"]
        assert generator.running == 1  # vLLM was never sent more than one
        generator.gate.set()
        assert [first.result().status_code, second.result().status_code] == [200, 200]
        metrics = client.get("/metrics").text
        assert 'tutorbook_gateway_upstream_errors_total{kind="generator_busy",service="generator"} 1.0' in metrics


async def test_a_request_that_waits_too_long_for_a_slot_is_refused() -> None:
    generator = GatedGenerator()
    slots = GenerationSlots(Capacity(in_flight=1, waiting=5, wait_seconds=0.1))
    bound = SlotBoundGenerator(generator, slots)
    holder = asyncio.create_task(bound.chat_completion({"model": "base"}))
    await generator.until_running(1)
    with pytest.raises(GeneratorBusyError, match=r"no generation slot within 0\.1 s"):
        await bound.chat_completion({"model": "base"})
    generator.gate.set()
    await holder
    assert slots.waiting == 0


async def test_a_stream_holds_its_slot_until_it_ends_or_is_closed() -> None:
    slots = GenerationSlots(Capacity(in_flight=1, waiting=0, wait_seconds=1))
    bound = SlotBoundGenerator(FakeGenerator(), slots)
    stream = await bound.open_chat_stream({"model": "base"})
    with pytest.raises(GeneratorBusyError):
        await bound.chat_completion({"model": "base"})
    assert len([chunk async for chunk in stream.chunks()]) == 6
    await bound.chat_completion({"model": "base"})  # the finished stream gave its slot back
    abandoned = await bound.open_chat_stream({"model": "base"})
    await abandoned.aclose()
    await abandoned.aclose()  # given back once, however often it is closed
    await bound.chat_completion({"model": "base"})
    assert slots.in_use == 0


async def test_no_limit_when_in_flight_is_zero() -> None:
    generator = GatedGenerator()
    slots = GenerationSlots(Capacity(in_flight=0, waiting=0, wait_seconds=0))
    bound = SlotBoundGenerator(generator, slots)
    tasks = [asyncio.create_task(bound.chat_completion({"model": "base"})) for _ in range(20)]
    await generator.until_running(20)  # all twenty generate at once (within 10 s, or a TimeoutError)
    assert generator.running == 20 and slots.in_use == 0 and slots.waiting == 0  # none holds or waits for a slot
    generator.gate.set()
    answers = await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert [answer["choices"][0]["message"]["content"] for answer in answers] == ["Two years [1]."] * 20
    assert generator.running == 0


async def test_a_request_cancelled_while_waiting_leaves_no_slot_behind() -> None:
    """A client that goes away while its request waits (or just as it is granted the slot)."""
    generator = GatedGenerator()
    slots = WatchedSlots(Capacity(in_flight=1, waiting=5, wait_seconds=5))
    bound = SlotBoundGenerator(generator, slots)
    holder = asyncio.create_task(bound.chat_completion({"model": "base"}))
    await generator.until_running(1)
    waiters = [asyncio.create_task(bound.chat_completion({"model": "base"})) for _ in range(3)]
    await slots.until_asked(4)  # the holder and the three waiters
    assert slots.waiting == 3
    waiters[0].cancel()  # while it waits
    generator.gate.set()
    await holder
    waiters[1].cancel()  # most likely just as it is granted the slot
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError) and slots.waiting == 0
    for _ in range(3):  # the one slot is free again each time
        await asyncio.wait_for(bound.chat_completion({"model": "base"}), 5)
    assert slots.in_use == 0


class Order:
    """The order in which generations got their slot."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finish = asyncio.Event()

    async def generate(self, slots: GenerationSlots, owner: str, name: str) -> None:
        GENERATION_OWNER.set(owner)  # as the chat path does for each request
        held = await slots.acquire()
        self.started.append(name)
        try:
            await self.finish.wait()
        finally:
            slots.release(held)


async def test_a_freed_slot_goes_to_the_waiting_key_that_holds_the_fewest() -> None:
    """One key with many requests at once holds every slot only while nobody else waits: another key's
    request gets the next slot, ahead of the first key's earlier waiters."""
    slots, order = WatchedSlots(Capacity(in_flight=2, waiting=8, wait_seconds=10)), Order()
    tasks = [asyncio.create_task(order.generate(slots, "a", f"a{n}")) for n in range(5)]
    await slots.until_asked(5)
    tasks.append(asyncio.create_task(order.generate(slots, "b", "b0")))
    await slots.until_asked(6)
    assert order.started == ["a0", "a1"] and slots.waiting == 4
    order.finish.set()  # everything runs to the end, one slot at a time
    await asyncio.gather(*tasks)
    assert order.started.index("b0") == 2 and slots.in_use == 0 and slots.waiting == 0


async def test_a_full_waiting_room_makes_place_for_another_key() -> None:
    slots, order = WatchedSlots(Capacity(in_flight=1, waiting=3, wait_seconds=10)), Order()
    tasks = [asyncio.create_task(order.generate(slots, "a", f"a{n}")) for n in range(4)]
    await slots.until_asked(4)
    assert order.started == ["a0"] and slots.waiting == 3  # the waiting room is full
    newcomer = asyncio.create_task(order.generate(slots, "b", "b0"))
    await slots.until_asked(5)
    results = await asyncio.wait_for(asyncio.gather(tasks[3], return_exceptions=True), 5)
    assert isinstance(results[0], GeneratorBusyError)  # a's newest waiter gave its place up
    order.finish.set()
    await asyncio.gather(newcomer, *tasks[:3])
    assert order.started[:2] == ["a0", "b0"]
