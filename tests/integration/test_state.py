"""The gateway's state, each test run against the in-memory backend and against a real redis-server."""

import asyncio

import pytest

from tutorbook_common.errors import ConflictError, NotFoundError, RateLimitedError
from tutorbook_gateway.state.backend import BucketStep, StateBackend
from tutorbook_gateway.state.cache import CachedAnswer, ResponseCache, cache_key
from tutorbook_gateway.state.conversations import Conversations, Turn
from tutorbook_gateway.state.feedback import FeedbackStore, ResponseRecord
from tutorbook_gateway.state.rate_limits import Limits, RateLimiter


async def test_values_expire_and_add_sets_only_once(backend: StateBackend) -> None:
    await backend.set("k", b"v", ttl_seconds=0.3)
    assert await backend.get("k") == b"v"
    assert await backend.get_many(["k", "missing"]) == [b"v", None]
    assert not await backend.add("k", b"other", 10)
    await asyncio.sleep(0.45)
    assert await backend.get("k") is None
    assert await backend.add("k", b"new", 10) and await backend.get("k") == b"new"
    await backend.delete("k")
    assert await backend.get("k") is None


async def test_lists_keep_their_last_items_in_order(backend: StateBackend) -> None:
    await backend.push("list", [b"1", b"2", b"3"], keep_last=4, ttl_seconds=10)
    await backend.push("list", [b"4", b"5"], keep_last=4, ttl_seconds=10)
    assert await backend.items("list", 10) == [b"2", b"3", b"4", b"5"]
    assert await backend.items("list", 2) == [b"4", b"5"]
    assert await backend.items("nothing", 5) == []


async def test_token_buckets_refuse_when_empty_and_go_into_debt(backend: StateBackend) -> None:
    def step(key: str, capacity: float, per_second: float, need: float, cost: float) -> BucketStep:
        return BucketStep(key, capacity, per_second, need, cost)

    results = [(await backend.take([step("bucket", 3, 0.5, 1, 1)]))[0] for _ in range(4)]
    assert [result.allowed for result in results] == [True, True, True, False]
    assert 1.0 < results[-1].retry_after_seconds <= 2.0  # one token at 0.5 per second
    [debt] = await backend.take([step("debt", 10, 1, 0, 25)])
    assert debt.allowed and debt.remaining == pytest.approx(-15, abs=0.1)
    [refused] = await backend.take([step("debt", 10, 1, 1, 0)])
    assert not refused.allowed and refused.retry_after_seconds == pytest.approx(16, abs=0.2)
    # All or nothing: a full bucket beside an empty one is not taken from.
    both = await backend.take([step("full", 5, 1, 1, 1), step("bucket", 3, 0.5, 1, 1)])
    assert [result.allowed for result in both] == [True, False]
    [full] = await backend.take([step("full", 5, 1, 1, 0)])
    assert full.remaining == pytest.approx(5, abs=0.1)


async def test_conversations_are_per_key_and_trimmed_to_the_budget(backend: StateBackend) -> None:
    conversations = Conversations(backend, ttl_seconds=60, max_turns=50, max_tokens=40)
    long_answer = "x" * 100  # about 29 tokens with its overhead
    await conversations.record("key-a", "s1", [Turn("user", "first question"), Turn("assistant", long_answer)])
    await conversations.record("key-a", "s1", [Turn("user", "second question"), Turn("assistant", "short")])
    assert await conversations.history("key-a", "s1") == [Turn("user", "second question"), Turn("assistant", "short")]
    assert await conversations.history("key-b", "s1") == []  # another key cannot read it


async def test_cache_round_trip_and_stable_keys(backend: StateBackend) -> None:
    cache = ResponseCache(backend, ttl_seconds=60)
    key = cache_key({"messages": [["user", "hi"]], "temperature": 0})
    assert key == cache_key({"temperature": 0, "messages": [["user", "hi"]]})
    assert await cache.lookup(key) is None
    await cache.store(key, CachedAnswer({"id": "c1", "choices": []}, index_version=7))
    assert await cache.lookup(key) == CachedAnswer({"id": "c1", "choices": []}, index_version=7)


async def test_rate_limits_count_requests_and_tokens_per_key(backend: StateBackend) -> None:
    limiter = RateLimiter(backend, Limits(requests_per_minute=2), {"vip": Limits(requests_per_minute=100)}, True)
    await limiter.admit("key")
    await limiter.admit("key")
    with pytest.raises(RateLimitedError) as refused:
        await limiter.admit("key")
    assert refused.value.status_code == 429 and 20 <= int(refused.value.headers["Retry-After"]) <= 30
    for _ in range(5):
        await limiter.admit("vip")
    tokens = RateLimiter(backend, Limits(tokens_per_minute=60), {}, True)
    await tokens.admit("t")
    tokens.charge_tokens("t", 200)  # a long answer: charged with the next admission, into debt
    with pytest.raises(RateLimitedError, match="tokens"):
        await tokens.admit("t")
    other = RateLimiter(backend, Limits(tokens_per_minute=60), {}, True)
    other.charge_tokens("u", 200)
    await other.flush()  # what a replica sends every second: another replica now sees the debt
    with pytest.raises(RateLimitedError, match="tokens"):
        await RateLimiter(backend, Limits(tokens_per_minute=60), {}, True).admit("u")


async def test_feedback_names_the_route_once_per_answer(backend: StateBackend) -> None:
    feedback = FeedbackStore(backend, ttl_seconds=60)
    await feedback.remember_response("chatcmpl-1", ResponseRecord("adapter", "triage@2", "triage@2", 0))
    await feedback.remember_response("chatcmpl-2", ResponseRecord("rag", None, "base", 0))
    first = await feedback.record("chatcmpl-1", "up", "spot on")
    assert (first.route, first.adapter, first.rating) == ("adapter", "triage@2", "up")
    await feedback.record("chatcmpl-2", "down", None)
    with pytest.raises(ConflictError):
        await feedback.record("chatcmpl-1", "down", None)
    with pytest.raises(NotFoundError):
        await feedback.record("chatcmpl-unknown", "up", None)
    assert [record.response_id for record in await feedback.recent(10)] == ["chatcmpl-2", "chatcmpl-1"]
