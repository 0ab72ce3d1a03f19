"""The gateway's state, opened once in the app's lifespan (:mod:`tutorbook_gateway.wiring`): Redis when a
URL is set, memory otherwise; every part on one backend."""

from dataclasses import dataclass

from tutorbook_config.redis_target import RedisTarget
from tutorbook_gateway.state.backend import StateBackend
from tutorbook_gateway.state.budget import StateBudget
from tutorbook_gateway.state.cache import ResponseCache
from tutorbook_gateway.state.conversations import Conversations
from tutorbook_gateway.state.feedback import FeedbackStore
from tutorbook_gateway.state.memory import MemoryBackend
from tutorbook_gateway.state.rate_limits import RateLimiter
from tutorbook_gateway.state.redis_backend import RedisBackend


@dataclass(frozen=True)
class GatewayState:
    backend: StateBackend
    conversations: Conversations
    cache: ResponseCache | None  # None: caching switched off
    limiter: RateLimiter
    feedback: FeedbackStore | None  # None: feedback is switched off
    feedback_ttl_seconds: float
    budget: StateBudget  # bytes kept per key and per team


def open_backend(redis: RedisTarget, timeout_seconds: float, memory_max_bytes: int) -> StateBackend:
    if redis.configured:
        return RedisBackend(redis, timeout_seconds)
    return MemoryBackend(memory_max_bytes)
