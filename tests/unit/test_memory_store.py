"""Without Redis the gateway's state lives in memory: bounded, whatever the traffic."""

from tutorbook_gateway.state.backend import BucketStep
from tutorbook_gateway.state.memory import ENTRY_OVERHEAD, MemoryBackend


async def test_the_memory_store_is_bounded_in_bytes_and_keeps_the_recently_written() -> None:
    """Not in entries: a few long conversations cannot hold more than many short ones."""
    store = MemoryBackend(max_bytes=3 * (ENTRY_OVERHEAD + 1 + 1000))  # three values of 1,000 bytes
    for name in "abcd":
        await store.set(name, name.encode() * 1000, 60)
    assert [await store.get(name) for name in "abcd"] == [None, b"b" * 1000, b"c" * 1000, b"d" * 1000]
    await store.set("b", b"again", 60)  # rewritten: now the most recent, and small
    await store.push("list-e", [b"turn" * 250] * 2, keep_last=5, ttl_seconds=60)  # 2,000 bytes: c and d go
    assert await store.get("b") == b"again" and await store.get("c") is None and await store.get("d") is None
    assert await store.items("list-e", 5) == [b"turn" * 250] * 2
    assert store.bytes <= 3 * (ENTRY_OVERHEAD + 1 + 1000)
    await store.take([BucketStep("bucket", 10, 1, 1, 1)])  # buckets count too
    assert store.bytes <= 3 * (ENTRY_OVERHEAD + 1 + 1000)
