"""The gateway's state, each test run against the in-memory backend, a real redis-server and a real
three-master Redis Cluster. Buckets taken together share a hash slot (``{tag}`` in their names), as every
caller's do, so that one script can take from them on a cluster."""

import asyncio

import pytest
import redis

from tests.conftest import RedisServer, free_port
from tutorbook_config.redis_target import RedisTarget
from tutorbook_gateway.adapters.locking import AdapterLocks
from tutorbook_gateway.state.backend import BucketStep, StateBackend, StateUnavailableError
from tutorbook_gateway.state.budget import BudgetOwner, StateBudget, kept_size
from tutorbook_gateway.state.cache import CachedAnswer, ResponseCache, cache_key
from tutorbook_gateway.state.conversations import Conversations, Turn
from tutorbook_gateway.state.feedback import FeedbackStore, ResponseRecord
from tutorbook_gateway.state.rate_limits import Limits, RateLimiter, request_bucket
from tutorbook_gateway.state.redis_backend import RedisBackend
from tutorbook_retriever.clients.version_publisher import RedisVersionPublisher
from tutorbook_service.errors import ConflictError, RateLimitedError


async def test_values_expire_and_add_sets_only_once(backend: StateBackend) -> None:
    await backend.set("k", b"v", ttl_seconds=0.3)
    assert await backend.get("k") == b"v"
    assert await backend.get_many(["k", "missing"]) == [b"v", None]
    assert not await backend.add("k", b"other", 10)
    for _ in range(250):  # polls until it has expired, at most 5 s (no sleep guessing the TTL)
        if await backend.get("k") is None:
            break
        await asyncio.sleep(0.02)
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

    results = [(await backend.take([step("{one}bucket", 3, 0.5, 1, 1)]))[0] for _ in range(4)]
    assert [result.allowed for result in results] == [True, True, True, False]
    assert 1.0 < results[-1].retry_after_seconds <= 2.0  # one token at 0.5 per second
    [debt] = await backend.take([step("debt", 10, 1, 0, 25)])
    assert debt.allowed and debt.remaining == pytest.approx(-15, abs=0.1)
    [refused] = await backend.take([step("debt", 10, 1, 1, 0)])
    assert not refused.allowed and 14 < refused.retry_after_seconds <= 16  # 15 owed plus 1; less as time passes
    # All or nothing: a full bucket beside an empty one is not taken from.
    both = await backend.take([step("{one}full", 5, 1, 1, 1), step("{one}bucket", 3, 0.5, 1, 1)])
    assert [result.allowed for result in both] == [True, False]
    [full] = await backend.take([step("{one}full", 5, 1, 1, 0)])
    assert full.remaining == pytest.approx(5, abs=0.1)


async def test_takes_at_the_same_moment_never_admit_more_than_the_bucket_holds(backend: StateBackend) -> None:
    """Fifty takes sent at once (concurrent scripts on Redis): exactly the ten the bucket holds are admitted,
    and two buckets taken together are never taken from one without the other."""
    one = BucketStep("race", 10, 0.001, 1, 1)
    results = await asyncio.gather(*(backend.take([one]) for _ in range(50)))
    assert sum(result.allowed for [result] in results) == 10
    pair = [BucketStep("{pair}left", 10, 0.001, 1, 1), BucketStep("{pair}right", 5, 0.001, 1, 1)]
    paired = await asyncio.gather(*(backend.take(pair) for _ in range(30)))
    assert sum(all(result.allowed for result in results) for results in paired) == 5
    [left] = await backend.take([BucketStep("{pair}left", 10, 0.001, 0, 0)])
    assert left.remaining == pytest.approx(5, abs=0.1)  # the refused pairs took nothing from the left


async def test_a_partial_take_gets_what_the_bucket_holds_and_a_refund_stops_at_capacity(
    backend: StateBackend,
) -> None:
    [first] = await backend.take([BucketStep("lease", 25, 0.001, 1, 10, partial=True)])
    assert first.allowed and first.taken == 10 and first.remaining == pytest.approx(15, abs=0.1)
    await backend.take([BucketStep("lease", 25, 0.001, 1, 10, partial=True)])
    [last] = await backend.take([BucketStep("lease", 25, 0.001, 1, 10, partial=True)])
    assert last.allowed and last.taken == 5  # only five were left: a smaller block, not a refusal
    [empty] = await backend.take([BucketStep("lease", 25, 0.001, 1, 10, partial=True)])
    assert not empty.allowed and empty.taken == 0
    [refund] = await backend.take([BucketStep("lease", 25, 0.001, 0, 0, debit=-40)])
    assert refund.remaining == pytest.approx(25, abs=0.1)  # never above the capacity


async def test_replicas_leasing_one_key_never_admit_more_than_its_limit(backend: StateBackend) -> None:
    """Two limiters (two gateway replicas) with 10-second leases of a 60-a-minute key: together they admit
    the bucket's 60 and no more; a lease's unused tokens go back at the flush, for the other to use."""
    first, second = (RateLimiter(backend, Limits(requests_per_minute=60), {}, True, 10.0) for _ in range(2))

    async def admitted(limiter: RateLimiter, tries: int, owner: str = "key") -> int:
        count = 0
        for _ in range(tries):
            try:
                await limiter.admit(owner)
            except RateLimitedError:
                continue
            count += 1
        return count

    assert await admitted(first, 5) == 5  # one round trip took a block of 10
    assert await admitted(second, 100) == 50  # the other 50; then refused
    assert await admitted(first, 100) == 5  # the rest of its own block
    other = RateLimiter(backend, Limits(requests_per_minute=60), {}, True, 10.0)
    assert await admitted(other, 1) == 0  # everything is taken
    held = RateLimiter(backend, Limits(requests_per_minute=6000), {}, True, 1.0)
    assert await admitted(held, 1, "big") == 1  # a block of 100, one used
    held._leases["big"].expires = 0  # the lease ran out: its 99 unused go back with the next flush
    await held.flush()
    [level] = await backend.take([BucketStep(request_bucket("big"), 6000, 100, 0, 0)])
    assert level.remaining > 5990


async def test_a_request_reserves_what_it_may_cost_and_gets_back_what_it_did_not_use(
    backend: StateBackend,
) -> None:
    """1,000 tokens a minute: a request that may cost 600 reserves them, so a second one cannot start; the
    first used 100, the other 500 come back, and the second one goes."""
    limiter = RateLimiter(backend, Limits(tokens_per_minute=1000), {}, True, lease_seconds=0)
    reserved = await limiter.admit("k", limiter.reservation("k", 600))
    assert reserved == 600
    with pytest.raises(RateLimitedError, match="tokens"):
        await limiter.admit("k", limiter.reservation("k", 600))
    limiter.settle("k", reserved, used=100)
    assert await limiter.admit("k", limiter.reservation("k", 600)) == 600  # the refund rides on this admission
    assert limiter.reservation("k", 50_000) == 1000  # never more than the bucket holds: it can still go


async def test_a_bucket_in_debt_is_not_forgotten_before_it_would_have_refilled(redis_server: RedisServer) -> None:
    """Key expiry is Redis's (the in-memory store keeps buckets until it evicts them)."""
    backend = RedisBackend(redis_server.target)
    await backend.take([BucketStep("debt-ttl", 60, 1, 0, 0, debit=600)])  # 600 tokens over a 60-token bucket
    assert redis.Redis.from_url(redis_server.url).ttl("debt-ttl") >= 600  # a minute's TTL would forgive it
    await backend.close()


async def test_one_change_at_a_time_per_adapter_name_across_replicas(backend: StateBackend) -> None:
    """Two gateway replicas (two lock holders on one store): the second waits for the first, and gives up
    with a 409 when the first holds on too long; another name is never held up."""
    first, second = AdapterLocks(backend, wait_seconds=0.2), AdapterLocks(backend, wait_seconds=0.2)
    async with first.hold("triage"):
        with pytest.raises(ConflictError, match="in progress"):
            async with second.hold("triage"):
                pass
        async with second.hold("style"):
            pass
    async with second.hold("triage"):  # released: the other replica goes on
        pass


async def test_a_write_kept_only_within_the_budget_is_refused_once_the_budget_is_spent(
    backend: StateBackend,
) -> None:
    """Claim records: kept only while the key and its team have bytes left; one refused is not charged."""
    record = "x" * 400
    size = kept_size("id", record)
    budget = StateBudget(backend, key_bytes=2 * size, window_seconds=3600, team_bytes=lambda team: 10 * size)
    who = BudgetOwner("key-a", "support")
    assert await budget.keep(who, "id", record, only_within=True)
    assert await budget.keep(who, "id", record, only_within=True)  # the last bytes: charged, the budget now spent
    assert not await budget.keep(who, "id", record, only_within=True)  # spent: refused, not charged
    with pytest.raises(RateLimitedError, match="kept state"):
        await budget.check(who)
    assert await budget.keep(BudgetOwner("key-b", "support"), "id", record, only_within=True)  # its own budget
    team_spent = BudgetOwner("key-c", "sales")
    small_team = StateBudget(backend, key_bytes=100 * size, window_seconds=3600, team_bytes=lambda team: size)
    assert await small_team.keep(team_spent, "id", record, only_within=True)
    assert not await small_team.keep(team_spent, "id", record, only_within=True)  # the team's budget, spent


async def test_conversations_are_per_key_and_trimmed_to_the_budget(backend: StateBackend) -> None:
    conversations = Conversations(backend, ttl_seconds=60, max_turns=50, max_tokens=40, max_turn_chars=1000)
    long_answer = "x" * 100  # about 29 tokens with its overhead
    await conversations.record("key-a", "s1", [Turn("user", "first question"), Turn("assistant", long_answer)])
    await conversations.record("key-a", "s1", [Turn("user", "second question"), Turn("assistant", "short")])
    assert await conversations.history("key-a", "s1") == [Turn("user", "second question"), Turn("assistant", "short")]
    assert await conversations.history("key-b", "s1") == []  # another key cannot read it


async def test_a_session_stores_a_bounded_number_of_bounded_turns(backend: StateBackend) -> None:
    """Bytes stored per session: at most max_turns turns of at most max_turn_chars characters each."""
    conversations = Conversations(backend, ttl_seconds=60, max_turns=4, max_tokens=10_000, max_turn_chars=100)
    for number in range(5):
        await conversations.record("key-a", "s1", [Turn("user", f"{number} " + "x" * 5000), Turn("assistant", "ok")])
    history = await conversations.history("key-a", "s1")
    assert [turn.content[:1] for turn in history] == ["3", "o", "4", "o"]
    assert len(history[0].content) == 100 and history[0].content.endswith(" [...]")
    stored = await backend.items(Conversations.key("key-a", "s1"), 100)
    assert len(stored) == 4 and sum(map(len, stored)) < 4 * 200


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
    tokens.settle("t", reserved=0, used=200)  # a long answer: charged with the next admission, into debt
    with pytest.raises(RateLimitedError, match="tokens"):
        await tokens.admit("t")
    other = RateLimiter(backend, Limits(tokens_per_minute=60), {}, True)
    other.settle("u", reserved=0, used=200)
    await other.flush()  # what a replica sends every second: another replica now sees the debt
    with pytest.raises(RateLimitedError, match="tokens"):
        await RateLimiter(backend, Limits(tokens_per_minute=60), {}, True).admit("u")


async def test_feedback_names_the_route_once_per_answer(backend: StateBackend) -> None:
    feedback = FeedbackStore(backend, ttl_seconds=60)
    triage, rag = ResponseRecord("adapter", "triage@2", "triage@2", 0), ResponseRecord("rag", None, "base", 0)
    first = await feedback.record("chatcmpl-1", triage, "up", "spot on")
    assert (first.route, first.adapter, first.rating) == ("adapter", "triage@2", "up")
    await feedback.record("chatcmpl-2", rag, "down", None)
    with pytest.raises(ConflictError):
        await feedback.record("chatcmpl-1", triage, "down", None)
    assert [record.response_id for record in await feedback.recent(10)] == ["chatcmpl-2", "chatcmpl-1"]


async def test_a_cluster_that_cannot_be_reached_reads_as_the_store_being_down() -> None:
    """Not a 500, and no queue: the gateway's store says it is down (and at once for a second after), and
    the retriever's publisher, which connects only when it first publishes, logs and goes on."""
    target = RedisTarget(f"redis://127.0.0.1:{free_port()}/0", cluster=True)  # nothing listens there
    backend = RedisBackend(target, timeout_seconds=0.5)
    try:
        with pytest.raises(StateUnavailableError):
            await backend.get("k")
        with pytest.raises(StateUnavailableError, match="a moment ago"):
            await backend.take([BucketStep(request_bucket("k"), 10, 1, 1, 1)])
    finally:
        await backend.close()
    publisher = RedisVersionPublisher(target)
    assert publisher.publish(5) is False
    publisher.close()
