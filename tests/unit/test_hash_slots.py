"""On a Redis Cluster one script can touch only keys of one hash slot: every set of buckets the gateway takes
from together (a key's request and token buckets; a key's and its team's byte budgets) shares one slot."""

from redis.crc import key_slot

from tutorbook_gateway.state.backend import BucketResult, BucketStep
from tutorbook_gateway.state.budget import BudgetOwner, StateBudget
from tutorbook_gateway.state.memory import MemoryBackend
from tutorbook_gateway.state.rate_limits import Limits, RateLimiter


class RecordingBackend(MemoryBackend):
    def __init__(self) -> None:
        super().__init__()
        self.taken: list[list[str]] = []

    async def take(self, steps: list[BucketStep]) -> list[BucketResult]:
        self.taken.append([step.key for step in steps])
        return await super().take(steps)


def slots(keys: list[str]) -> set[int]:
    return {key_slot(key.encode()) for key in keys}


async def test_a_keys_request_and_token_buckets_share_a_slot() -> None:
    backend = RecordingBackend()
    limiter = RateLimiter(backend, Limits(requests_per_minute=60, tokens_per_minute=6000), {}, fail_open=False)
    for owner in ("key:3f2a9c", "abc{odd}", "k"):
        await limiter.admit(owner, reserve=100)
        limiter.settle(owner, reserved=100, used=40)
    await limiter.flush()
    together = [keys for keys in backend.taken if len(keys) > 1]
    assert together and all(len(slots(keys)) == 1 for keys in together), backend.taken


async def test_a_keys_and_its_teams_byte_budgets_share_a_slot() -> None:
    backend = RecordingBackend()
    budget = StateBudget(backend, key_bytes=1000, window_seconds=60, team_bytes=lambda team: 5000)
    for who in (BudgetOwner("key:3f2a9c", "support"), BudgetOwner("key:77", "default")):
        await budget.check(who)
        await budget.keep(who, "a turn", only_within=True)
    together = [keys for keys in backend.taken if len(keys) > 1]
    assert len(together) == 4 and all(len(slots(keys)) == 1 for keys in together), backend.taken
