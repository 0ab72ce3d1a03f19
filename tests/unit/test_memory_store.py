"""Without Redis the gateway's state lives in memory: bounded, whatever the traffic."""

from tutorbook_gateway.state.backend import BucketStep
from tutorbook_gateway.state.memory import MemoryBackend


async def test_the_memory_store_is_bounded_per_kind_and_keeps_the_recently_written() -> None:
    store = MemoryBackend(max_keys=3)
    for name in "abcd":
        await store.set(name, name.encode(), 60)
        await store.push(f"list-{name}", [b"turn"], keep_last=5, ttl_seconds=60)
        await store.take([BucketStep(f"bucket-{name}", 10, 1, 1, 1)])
    assert [await store.get(name) for name in "abcd"] == [None, b"b", b"c", b"d"]
    assert await store.items("list-a", 5) == [] and await store.items("list-d", 5) == [b"turn"]
    await store.set("b", b"again", 60)  # rewritten: now the most recent
    await store.set("e", b"e", 60)
    assert await store.get("b") == b"again" and await store.get("c") is None
