"""Steps 4 and 7 of answering: the answer cache, exact and semantic. It is looked up once before
generation (the exact key; after planning, a similar question's answer) and stored once after.

Only deterministic requests are cached (temperature 0, or a seed); the key covers what decides the answer
(see :mod:`tutorbook_gateway.state.cache`). Never stale: an entry that depends on the index is served only
at the index version it was computed at.
"""

import logging
from dataclasses import dataclass
from typing import Any

from tutorbook_gateway.background import BackgroundTasks
from tutorbook_gateway.chat.planning import AdapterSnapshot, ChatConfig, ChatPlan, sampling_parameters
from tutorbook_gateway.clients.retriever import RetrieverClient
from tutorbook_gateway.conversation import message_text
from tutorbook_gateway.metrics import GatewayMetrics
from tutorbook_gateway.routing import AUTO_MODEL, resolve_adapter
from tutorbook_gateway.schemas import ChatCompletionRequest
from tutorbook_gateway.state.cache import CachedAnswer, ResponseCache, cache_key, is_fresh
from tutorbook_gateway.state.degrading import degraded, quietly

CACHE_HEADER = "x-tutorbook-cache"
log = logging.getLogger("tutorbook.cache")


@dataclass
class CacheLookup:
    """What the cache said about one request."""

    key: str | None  # None: the answer is not deterministic, so not cacheable
    found: dict[str, Any] | None = None  # a fresh cached completion (served under a new id)
    source: str = "hit"  # how ``found`` was found: "hit" (exact) or "semantic-hit"
    asked_similar: bool = False  # planning searched for a similar answered question
    question: str | None = None  # the question to remember for the semantic cache

    @property
    def status(self) -> str | None:
        """The ``x-tutorbook-cache`` header: hit, semantic-hit, miss, or none when not cacheable."""
        if self.key is None:
            return None
        return self.source if self.found is not None else "miss"


def cache_fields(
    request: ChatCompletionRequest, config: ChatConfig, adapters: AdapterSnapshot
) -> dict[str, Any] | None:
    """What decides the answer, normalised; None when the answer is not deterministic."""
    params = sampling_parameters(request, config)
    if params["temperature"] != 0 and request.seed is None:
        return None
    params.pop("user", None)
    if request.model == AUTO_MODEL:
        served = sorted(state.served_name for state in adapters.states.values())
    elif request.model == config.policy.base_model:
        served = []
    else:
        adapter = resolve_adapter(request.model, adapters.states)
        served = [] if adapter is None else [adapter.served_name]
    hint = request.tutorbook.route if request.tutorbook else None
    messages = [(message.role, " ".join(message_text(message).split())) for message in request.messages]
    return {"messages": messages, "model": request.model, "route": hint, "adapters": served, **params}


class AnswerCache:
    def __init__(
        self,
        cache: ResponseCache | None,  # None: caching is switched off
        semantic_min_similarity: float | None,  # None: the semantic cache is off
        config: ChatConfig,
        retriever: RetrieverClient,
        metrics: GatewayMetrics,
        background: BackgroundTasks,
    ) -> None:
        self._cache = cache
        self._semantic_min_similarity = semantic_min_similarity
        self._config = config
        self._retriever = retriever
        self._metrics = metrics
        self._background = background

    async def lookup(self, request: ChatCompletionRequest, adapters: AdapterSnapshot, retrieves: bool) -> CacheLookup:
        """The exact lookup. ``retrieves``: the answer may depend on the index, so its version must match."""
        fields = cache_fields(request, self._config, adapters) if self._cache is not None else None
        if fields is None:
            self._metrics.cache_lookups.labels(result="bypass").inc()
            return CacheLookup(None)
        lookup = CacheLookup(cache_key(fields))
        lookup.found = await self._fresh_entry(lookup.key or "", retrieves)
        single_question = len(request.messages) == 1 and request.messages[0].role == "user"
        lookup.asked_similar = lookup.found is None and single_question and self._semantic_min_similarity is not None
        return lookup

    async def _fresh_entry(self, key: str, versioned: bool) -> dict[str, Any] | None:
        assert self._cache is not None
        if versioned:  # the index version comes with the entry when the retriever publishes it to Redis
            found = await degraded("cache", self._cache.lookup_with_version(key), self._metrics)
        else:
            found = await degraded("cache", self._cache.lookup(key), self._metrics), None
        answer, version = found or (None, None)
        if answer is None:
            self._metrics.cache_lookups.labels(result="miss").inc()
            return None
        if versioned and version is None:
            version = await self._current_index_version()
        if not is_fresh(answer, version) or (versioned and answer.index_version is None):
            self._metrics.cache_lookups.labels(result="stale").inc()
            return None
        self._metrics.cache_lookups.labels(result="hit").inc()
        return answer.completion

    async def _current_index_version(self) -> int | None:
        try:
            return await self._retriever.index_version()
        except Exception as exc:  # noqa: BLE001 - without the version no cached answer can be trusted
            log.warning("index version unavailable, cache bypassed: %s", exc)
            return None

    async def lookup_similar(self, lookup: CacheLookup, plan: ChatPlan) -> None:
        """After planning: the answer to a similar enough question, computed at the current index version."""
        if not lookup.asked_similar or self._cache is None or self._semantic_min_similarity is None:
            return
        lookup.question = plan.query
        similar = plan.similar
        if similar is None or similar.score < self._semantic_min_similarity or similar.key == lookup.key:
            return
        answer = await degraded("cache", self._cache.lookup(similar.key), self._metrics)
        if answer is None or answer.index_version is None or answer.index_version != plan.index_version:
            return
        self._metrics.cache_lookups.labels(result="semantic_hit").inc()
        lookup.found, lookup.source = answer.completion, "semantic-hit"

    def store(self, lookup: CacheLookup, completion: dict[str, Any], index_version: int | None) -> None:
        """After a fresh answer, off the response's path: the entry, and the question for the semantic cache."""
        if lookup.key is None or lookup.found is not None or self._cache is None:
            return
        writes = [
            degraded("cache", self._cache.store(lookup.key, CachedAnswer(completion, index_version)), self._metrics)
        ]
        if lookup.question and index_version is not None:
            remembered = self._retriever.remember_question(lookup.key, lookup.question, index_version)
            writes.append(quietly("semantic cache", remembered))
        for write in writes:
            self._background.spawn(write)
