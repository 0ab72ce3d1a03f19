"""The gateway's state, opened once in the app's lifespan: Redis when a URL is set, memory otherwise."""

from collections.abc import Callable
from dataclasses import dataclass

from tutorbook_gateway.settings import GatewaySettings
from tutorbook_gateway.state.backend import StateBackend
from tutorbook_gateway.state.cache import ResponseCache
from tutorbook_gateway.state.conversations import Conversations
from tutorbook_gateway.state.feedback import FeedbackStore
from tutorbook_gateway.state.memory import MemoryBackend
from tutorbook_gateway.state.rate_limits import Limits, RateLimiter, parse_overrides
from tutorbook_gateway.state.redis_backend import RedisBackend


@dataclass(frozen=True)
class GatewayState:
    backend: StateBackend
    conversations: Conversations
    cache: ResponseCache | None  # None: caching switched off
    limiter: RateLimiter
    feedback: FeedbackStore | None  # None: feedback is switched off
    feedback_ttl_seconds: float
    semantic_min_similarity: float | None = None  # None: the semantic cache is off


def open_backend(settings: GatewaySettings) -> StateBackend:
    if settings.redis_url:
        return RedisBackend(settings.redis_url, settings.redis_timeout_seconds)
    return MemoryBackend(settings.memory_store_max_keys)


def gateway_state(
    settings: GatewaySettings, backend: StateBackend, on_rate_limit_store_error: Callable[[], None]
) -> GatewayState:
    default = Limits(settings.rate_limit_requests_per_minute, settings.rate_limit_tokens_per_minute)
    return GatewayState(
        backend=backend,
        conversations=Conversations(
            backend,
            settings.session_ttl_seconds,
            settings.session_max_turns,
            settings.session_max_tokens,
            settings.session_max_turn_chars,
        ),
        cache=ResponseCache(backend, settings.cache_ttl_seconds) if settings.cache_enabled else None,
        limiter=RateLimiter(
            backend,
            default,
            parse_overrides(settings.rate_limit_overrides),
            settings.rate_limit_fail_open,
            settings.rate_limit_lease_seconds,
            on_rate_limit_store_error,
        ),
        feedback=FeedbackStore(backend, settings.feedback_ttl_seconds) if settings.feedback_enabled else None,
        feedback_ttl_seconds=settings.feedback_ttl_seconds,
        semantic_min_similarity=settings.semantic_cache_min_similarity if settings.semantic_cache_enabled else None,
    )
