"""Steps 4 and 7 of answering: the answer cache, exact and semantic. It is looked up once before
generation (the exact key; after planning, a similar question's answer) and stored once after.

Only deterministic requests are cached (temperature 0, or a seed); the key covers what decides the answer
(see :mod:`tutorbook_gateway.state.cache`). Never stale: an entry that depends on the index is served only
at the index version it was computed at.

Each process also keeps the entries it stored or read most recently (``local_entries`` of them): one of
those is served with no round trip when its freshness can be checked locally, against the index version
this process follows (:class:`~tutorbook_gateway.state.index_version.IndexVersionWatch`).
"""

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from tutorbook_gateway.background import BackgroundTasks
from tutorbook_gateway.chat.config import ChatConfig
from tutorbook_gateway.chat.planning import ChatPlan
from tutorbook_gateway.chat.request import ChatRequest
from tutorbook_gateway.clients.retriever import RetrieverClient
from tutorbook_gateway.metrics import GatewayMetrics
from tutorbook_gateway.routing import AUTO_MODEL
from tutorbook_gateway.state.cache import CachedAnswer, cache_key, is_fresh
from tutorbook_gateway.state.degrading import quietly
from tutorbook_gateway.state.index_version import IndexVersionWatch

CACHE_HEADER = "x-tutorbook-cache"
log = logging.getLogger("tutorbook.cache")


class CacheStore(Protocol):
    """The response cache in the state store (:class:`~tutorbook_gateway.state.degrading.DegradingCache`:
    a store that is down misses and keeps nothing, it never fails a request)."""

    async def lookup(self, key: str) -> CachedAnswer | None: ...

    async def lookup_with_version(self, key: str) -> tuple[CachedAnswer | None, int | None]:
        """The entry and the published index version, in one round trip (version None: not published)."""
        ...

    async def store(self, key: str, answer: CachedAnswer) -> None: ...


@dataclass
class CacheLookup:
    """What the cache said about one request."""

    key: str | None  # None: the answer is not deterministic, so not cacheable
    owner: str | None = None  # whose answers it may be served: the key (per key), else its team
    team: str = ""  # the asking key's team: its semantic cache is its own
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


def cache_fields(request: ChatRequest, config: ChatConfig) -> dict[str, Any] | None:
    """What decides the answer, normalised; None when the answer is not deterministic."""
    if not request.deterministic:
        return None
    params = {name: value for name, value in request.sampling.items() if name != "user"}
    route = request.route
    if route.adapter is not None:
        served = [route.adapter.served_name]
    elif route.model == AUTO_MODEL:
        served = sorted(state.served_name for state in request.adapters.states.values())
    else:
        served = []
    messages = [(turn.role, " ".join(turn.content.split())) for turn in request.messages]
    decoding = {
        "rag_repetition_penalty": config.answers.repetition_penalty,
        "rag_frequency_penalty": config.answers.frequency_penalty,
        # claims the judge overruled are part of the answer
        "claims_judge": [config.claim_check.judge.model, config.claim_check.judge.min_probability],
    }
    hint = route.hint.value if route.hint else None
    return {"messages": messages, "model": route.model, "route": hint, "adapters": served,
            "claims_policy": request.claims_policy.value, **decoding, **params}  # fmt: skip


def checked_in_full(completion: dict[str, Any]) -> bool:
    """False when the answer's claim check, or its judge, could not run: such an answer is not cached."""
    check = (completion.get("tutorbook") or {}).get("answer_check") or {}
    return "error" not in check and "error" not in (check.get("judge") or {})


@dataclass(frozen=True)
class CacheOptions:
    semantic_min_similarity: float | None  # None: the semantic cache is off
    ttl_seconds: float  # how long an entry is served (the store's TTL)
    local_entries: int  # entries this process keeps to answer without a round trip (0: none)
    per_key: bool = True  # an answer is served again only to the key it was answered for


class LocalEntries:
    """The entries this process stored or read last, each until its TTL, evicting the least recently used."""

    def __init__(self, max_entries: int, ttl_seconds: float) -> None:
        self._entries: OrderedDict[str, tuple[CachedAnswer, float]] = OrderedDict()
        self._max_entries = max_entries
        self._ttl = ttl_seconds

    def keep(self, key: str, answer: CachedAnswer) -> None:
        if self._max_entries <= 0:
            return
        self._entries[key] = (answer, time.monotonic() + self._ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def fresh(self, key: str, versioned: bool, index_version: int | None) -> CachedAnswer | None:
        """The entry, when it is alive and (if it depends on the index) computed at ``index_version``."""
        found = self._entries.get(key)
        if found is None or found[1] <= time.monotonic():
            return None
        answer: CachedAnswer = found[0]
        if versioned and (index_version is None or answer.index_version != index_version):
            return None
        self._entries.move_to_end(key)
        return answer


class AnswerCache:
    def __init__(
        self,
        cache: CacheStore | None,  # None: caching is switched off
        options: CacheOptions,
        index_version: IndexVersionWatch,
        config: ChatConfig,
        retriever: RetrieverClient,
        metrics: GatewayMetrics,
        background: BackgroundTasks,
    ) -> None:
        self._cache = cache
        self._semantic_min_similarity = options.semantic_min_similarity
        self._per_key = options.per_key
        self._local = LocalEntries(options.local_entries, options.ttl_seconds)
        self._index_version = index_version
        self._config = config
        self._retriever = retriever
        self._metrics = metrics
        self._background = background

    async def lookup(self, request: ChatRequest) -> CacheLookup:
        """The exact lookup; an answer that may depend on the index is served only at its index version,
        and only to the key it was answered for (per key) or to its team (shared)."""
        fields = cache_fields(request, self._config) if self._cache is not None else None
        if fields is None:
            self._metrics.cache_lookups.labels(result="bypass").inc()
            return CacheLookup(None)
        team = request.caller.team  # shared or not, a cache never crosses a team's boundary
        scope = request.owner if self._per_key else f"team:{team}"
        lookup = CacheLookup(cache_key({**fields, "owner": scope}), scope, team)
        lookup.found = await self._fresh_entry(lookup.key or "", request.route.retrieves)
        single_question = len(request.messages) == 1 and request.messages[0].role == "user"
        lookup.asked_similar = lookup.found is None and single_question and self._semantic_min_similarity is not None
        return lookup

    async def _fresh_entry(self, key: str, versioned: bool) -> dict[str, Any] | None:
        assert self._cache is not None
        local = self._local.fresh(key, versioned, self._index_version.current)
        if local is not None:
            self._metrics.cache_lookups.labels(result="hit").inc()
            return local.completion
        if versioned:  # the index version comes with the entry when the retriever publishes it to Redis
            answer, version = await self._cache.lookup_with_version(key)
        else:
            answer, version = await self._cache.lookup(key), None
        if answer is None:
            self._metrics.cache_lookups.labels(result="miss").inc()
            return None
        if versioned and version is None:
            version = await self._current_index_version()
        if not is_fresh(answer, version) or (versioned and answer.index_version is None):
            self._metrics.cache_lookups.labels(result="stale").inc()
            return None
        self._metrics.cache_lookups.labels(result="hit").inc()
        self._local.keep(key, answer)
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
        answer = await self._cache.lookup(similar.key)
        if answer is None or answer.index_version is None or answer.index_version != plan.index_version:
            return
        if answer.owner != lookup.owner:  # another key's (per key) or team's question: never shown
            return
        if (answer.completion.get("tutorbook") or {}).get("adapter") != plan.tutorbook.get("adapter"):
            return  # another adapter version answered it (a rollout's canary, a version since replaced)
        checked = (answer.completion.get("tutorbook") or {}).get("answer_check")
        if checked and checked.get("policy") != plan.claims_policy.value:
            return  # checked under another policy: its text is not what this request asked for
        if checked and (checked.get("judge") or {}).get("model", "") != self._config.claim_check.judge.model:
            return  # checked with another judge, or none: its verdicts are not this gateway's
        self._metrics.cache_lookups.labels(result="semantic_hit").inc()
        lookup.found, lookup.source = answer.completion, "semantic-hit"

    def store(self, lookup: CacheLookup, completion: dict[str, Any], index_version: int | None) -> None:
        """After a fresh answer, off the response's path: the entry, and the question for the semantic cache."""
        if lookup.key is None or lookup.found is not None or self._cache is None:
            return
        if not checked_in_full(completion):
            return  # the claim check or its judge failed: the next ask may check it in full
        entry = CachedAnswer(completion, index_version, lookup.owner)
        self._local.keep(lookup.key, entry)
        writes = [self._cache.store(lookup.key, entry)]
        if lookup.question and index_version is not None:
            remembered = self._retriever.remember_question(lookup.key, lookup.question, index_version, lookup.team)
            writes.append(quietly("semantic cache", remembered))
        for write in writes:
            self._background.spawn(write)
