"""Gateway settings: one class of a few groups, read once, in create_app. Each group is one concern;
:mod:`tutorbook_gateway.wiring` builds each domain config from one group. Nothing here imports the domain.

Variables: ``TUTORBOOK_GATEWAY_<GROUP>__<FIELD>``, plus the shared ``TUTORBOOK_<FIELD>`` (docs/settings.md).
"""

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from tutorbook_config.redis_target import RedisTarget, redis_target
from tutorbook_config.service_settings import ServiceSettings, SettingsGroup

# The retriever scores at most 160 texts per call (its MAX_SIMILARITY_TEXTS): sentences and candidates.
MAX_ANSWER_SENTENCES = 32
MAX_CLAIM_CANDIDATES = 128


class ServerSettings(SettingsGroup):
    """Where the gateway listens, and how much one request may send it."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    """Worker processes (uvicorn). Above 1, metrics are shared through files (prometheus-client's
    multiprocess mode, in PROMETHEUS_MULTIPROC_DIR or a fresh temporary folder) and /metrics adds them up."""
    keepalive_seconds: int = 75
    """How long an idle client connection is kept open: longer than the clients' own pools keep one (httpx:
    5 s) and than Retry-After (5 s), so a client that waits as told and reuses its connection does not find
    it closed under its request (uvicorn's 5 s default raced them). 75 s, as nginx."""
    max_request_bytes: int = 16_000_000
    """Any request body (document batches are large); adapter uploads have their own limit."""
    chat_max_request_bytes: int = 1_000_000
    """A chat request's body (413 above it): room for limits.max_request_chars even when every character
    is escaped."""


class KeySettings(SettingsGroup):
    """Who may call the gateway."""

    api_keys: str = ""
    """Comma-separated bearer keys. No keys configured: every request is refused. Each key: at least 16
    characters and no placeholder, or the gateway refuses to start."""
    admin_keys: str = ""
    """Comma-separated bootstrap admin keys: every scope (chat, documents, adapters, admin), team
    ``default``. Keys made at runtime (``/v1/admin/keys``) carry the scopes they were given."""
    response_id_secret: str = ""
    """Signs response ids (they carry what feedback names: route, adapter, model, time). Every replica needs
    the same one; empty: derived from the admin keys (rotating them ends feedback on earlier answers)."""
    records_redis_url: str = ""
    """Where teams, keys and the audit log are kept (docs/security.md): empty (and no records sentinels),
    the shared Redis (TUTORBOOK_REDIS_URL, or the primary TUTORBOOK_REDIS_SENTINELS name); without either,
    this process's memory (runtime keys end with it). A Redis of their own is needed with
    TUTORBOOK_REDIS_CLUSTER: the records are written by scripts over several keys, and kept in a small
    durable Redis of their own (as compose and the Kubernetes base run them)."""
    records_redis_sentinels: str = ""
    """The records' own Redis behind Redis Sentinel instead of records_redis_url: its sentinels,
    ``host:port`` separated by commas (they may be the shared Redis's sentinels, watching another name)."""
    records_redis_sentinel_master: str = ""
    """The name the records' sentinels monitor their primary under; needed with records_redis_sentinels."""
    records_redis_password: str = ""
    """Behind records_redis_sentinels: their primary's password (a URL carries its own)."""
    records_redis_sentinel_password: str = ""
    """The records' sentinels' own password, when they ask for one."""
    records_replicas: Annotated[int, Field(ge=0, le=5)] = 0
    """Behind Redis Sentinel: a team, key or audit write is acknowledged only once this many replicas have
    it (Redis ``WAIT``, up to 1 s; fewer: 503, the write is on the primary unconfirmed and may or may not
    survive a failover), so a key the API made survives the primary's death (docs/state.md). 0:
    acknowledged by the primary alone."""
    refresh_seconds: Annotated[float, Field(gt=0.0, le=10.0)] = 0.25
    """How often each process asks whether teams or keys changed: a key made or revoked anywhere works, or
    stops working, everywhere within this and one read."""
    max_teams: Annotated[int, Field(ge=1)] = 1000
    max_keys: Annotated[int, Field(ge=1)] = 10000
    """Runtime keys, revoked ones included (they stay listed)."""
    max_models_per_key: Annotated[int, Field(ge=1)] = 100
    max_grace_seconds: Annotated[float, Field(ge=0.0)] = 604800.0
    """The longest a rotated-out secret may keep working (a week)."""
    audit_max_entries: Annotated[int, Field(ge=1)] = 10000
    """The audit log keeps the newest this many admin actions."""

    @model_validator(mode="after")
    def _records_target_is_one_thing(self) -> "KeySettings":
        self.records_target()  # ValueError, naming what is missing or doubled
        return self

    def records_target(self) -> RedisTarget | None:
        """The records' own Redis, or None: they are kept with the shared state."""
        target = redis_target(
            self.records_redis_url,
            self.records_redis_sentinels,
            self.records_redis_sentinel_master,
            password=self.records_redis_password,
            sentinel_password=self.records_redis_sentinel_password,
        )
        return target if target.configured else None


class UpstreamSettings(SettingsGroup):
    """The retriever and the generator replicas: where they are, how long to wait, how much to send."""

    retriever_url: str = "http://127.0.0.1:8001"
    retriever_timeout_seconds: float = 30.0
    retriever_write_timeout_seconds: float = 900.0
    """Document writes: the retriever embeds and commits a whole batch before it answers. A body of
    server.max_request_bytes (16 MB, about 18,000 chunks) takes about 2 minutes at the 150 chunks per second
    measured on 2 CPU cores: this leaves room for a slower machine."""
    generator_url: str = "http://127.0.0.1:8002"
    generator_replicas: str = ""
    """Generator replicas to hot-load adapters on: comma-separated URLs (empty: generator_url), plus every
    address of generator_dns when set. Two or more explicit replicas also carry chat, balanced by the
    gateway: a dead replica is set aside for generator_replica_down_seconds while the others answer."""
    generator_replica_down_seconds: float = 10.0
    generator_dns: str = ""
    """A DNS name whose every address is a generator replica (a Kubernetes headless service)."""
    generator_dns_port: int = 8002
    generator_timeout_seconds: float = 120.0
    """A read from the generator that stalls this long fails (a stream may run for minutes in all)."""
    generator_max_in_flight: int = 8
    """Load shedding, per gateway process: at most this many generations sent to vLLM at once (0: no
    limit), generator_max_waiting more waiting for one, each at most generator_max_wait_seconds; beyond
    that, 503 with Retry-After at once. 8 suits vLLM on a few CPU cores (at 16, RAG answers there took over
    the 120 s timeout in a soak); the GPU deployments set 128: vLLM batches hundreds there."""
    generator_max_waiting: int = 32
    generator_max_wait_seconds: float = 15.0
    circuit_breaker_failures: int = 5
    """After this many calls in a row to the generator (or the retriever) that timed out, calls to it fail
    at once with 503 for circuit_breaker_open_seconds, then one is tried (0: never open the circuit)."""
    circuit_breaker_open_seconds: float = 10.0


class StateSettings(SettingsGroup):
    """Shared state in Redis (shared.redis_url, or behind Sentinel: shared.redis_sentinels), or in this
    process's memory without it: conversations and feedback. The cache and the rate limits have groups of
    their own."""

    redis_timeout_seconds: float = 0.5
    memory_max_bytes: Annotated[int, Field(ge=1_000_000)] = 256_000_000
    """Without Redis: the bytes the in-memory store may hold (keys, contents and an overhead per entry, as
    counted by the gateway); past them the least recently written entries go, whatever their kind."""
    session_ttl_seconds: float = 86400.0
    """Conversations (session_id) are kept this long after the last turn, at most session_max_turns turns
    of at most session_max_turn_chars characters each (a longer message or answer is stored cut, marked
    " [...]"), and trimmed to about session_max_tokens tokens of history when sent to the model."""
    session_max_turns: int = 50
    session_max_turn_chars: int = 4000
    session_max_tokens: int = 1200
    feedback_enabled: bool = True
    """Whether POST /v1/feedback records feedback on answers at all (false: 404)."""
    feedback_ttl_seconds: float = 30 * 86400.0
    """How long answers can be rated, and ratings kept."""
    key_state_bytes: int = 64_000_000
    """Bytes of conversations, ratings and claim records one key may make the gateway keep per
    state_budget_window_seconds (0: no budget; a key's own limit or its team's may say otherwise): past it,
    429 naming the budget for whatever would keep more. What a key keeps at once stays under twice this."""
    state_budget_window_seconds: Annotated[float, Field(gt=0.0)] = 86400.0
    """The budgets refill over this time; records kept longer (ratings and claim records, 30 days) are
    charged in proportion, so that the bound holds for them too."""


class CacheSettings(SettingsGroup):
    """The answer cache: deterministic requests only (temperature 0 or a seed), never stale."""

    enabled: bool = True
    ttl_seconds: float = 3600.0
    local_entries: int = 1000
    """Entries each process keeps to answer a repeated request with no Redis round trip (0: none); they are
    checked against the index version the process follows through a Redis subscription."""
    scope: Literal["key", "shared"] = "key"
    """"key": an answer is served from the cache only to the API key it was answered for, so a hit never
    tells one key what another asked (keys may belong to different customers); "shared": the keys of one team
    share answers (more hits, for a team whose keys all serve one product); never across teams."""
    semantic_enabled: bool = False
    """A single question similar enough to one answered at the current index version gets that answer. Off
    by default: `make eval-semantic-cache` measures how often it would answer wrongly."""
    semantic_min_similarity: float = 0.95


class LimitSettings(SettingsGroup):
    """What one API key may ask for, per minute and at once, and what one chat request may hold."""

    requests_per_minute: int = 600
    """Per API key (0: unlimited)."""
    tokens_per_minute: int = 200_000
    """Per API key (0: unlimited): a request reserves its estimated prompt plus max_tokens."""
    overrides: str = ""
    """JSON {"<key fingerprint>": {"requests_per_minute": 60, "tokens_per_minute": 20000}}; a key's
    fingerprint is the first 16 hex digits of its SHA-256."""
    fail_open: bool = True
    """When the state store is down: let requests through (true) or refuse them with 503 (false)."""
    lease_seconds: float = 1.0
    """Each process takes about this many seconds' worth of a key's request rate from the shared bucket at a
    time and admits from it without a round trip; unused tokens go back within a second (0: ask Redis on
    every request)."""
    max_in_flight_per_key: int = 16
    """Requests of one key this process answers at once (0: no limit); beyond it, 429 with Retry-After."""
    max_tokens: int = 1024
    """The largest max_tokens a chat request may ask for (above: 400). Stored turns are bounded by these
    limits too."""
    max_message_chars: int = 32_000
    """Characters in one message (above: 413)."""
    max_request_chars: int = 100_000
    """Characters in all of a request's messages (above: 413)."""
    max_classified_chars: int = 4_000
    """Characters of a message a classifier scores (above: 413): by label, every label's prompt carries it."""


class RouterSettings(SettingsGroup):
    """The router's thresholds (routing.py; chosen on the routing evaluation's validation split,
    docs/routing.md)."""

    rag_min_score: float = 0.36
    """rag: the lowest retrieval score (cosine) that counts as a relevant passage."""
    rag_agreement_band: float = 0.04
    """A passage up to this far below rag_min_score still counts when dense and lexical search agree on it."""
    adapter_min_score: float = 0.45
    """adapter: its best route example must match at least this, and beat the best passage by adapter_margin."""
    adapter_margin: float = 0.05
    prompt_min_score: float = 0.38
    """prompt (small talk): the best small-talk example must match at least this, and beat passages by
    prompt_margin."""
    prompt_margin: float = 0.05
    off_topic_margin: float = 0.0
    """abstain instead of prompt: small talk must match at least as well as the off-topic examples plus this."""
    max_adapter_errors: int = 3
    """An adapter with this many generation errors in the last minute is skipped by "auto"."""
    small_talk_memory_entries: int = 2000
    """Questions decided to be small talk, remembered per process (least recently used out) so that while
    the retriever is down an "auto" request asking one again is still answered by plain prompting (0: only
    the router's own examples)."""


class AnswerSettings(SettingsGroup):
    """How answers are written: passages in the prompt, sampling defaults, the grounded reader."""

    top_k: int = 4
    """Passages retrieved for an answer."""
    context_max_chars: int = 3000
    """Characters of passages put in the prompt."""
    default_temperature: float = 0.0
    default_max_tokens: int = 256
    reader_adapter: str = ""
    """The grounded reader (docs/answers.md): an adapter that writes the RAG route's answers in the base
    model's place while it is active and healthy (empty: the base model writes them)."""
    repetition_penalty: Annotated[float, Field(ge=1.0, le=2.0)] = 1.0
    """vLLM's repetition penalty on answers written from passages (1.0: none; docs/answers.md measured it)."""
    frequency_penalty: Annotated[float, Field(ge=0.0, le=2.0)] = 0.0
    """OpenAI's frequency penalty on answers written from passages (0.0: none; docs/answers.md measured it)."""


class ClaimSettings(SettingsGroup):
    """The claim check on answers written from passages (docs/answers.md)."""

    policy: Literal["flag", "withhold", "quote"] = "withhold"
    """What happens to a sentence the passages do not support: flag (kept and marked), withhold (dropped;
    "not sure" when nothing is left), quote (the answer is the supporting passage sentences)."""
    min_similarity: Annotated[float, Field(ge=0.0, le=1.0)] = 0.6
    """A passage sentence supports a claim when its cosine with the claim is at least this (or it holds
    min_overlap of the claim's content words); then their facts and polarity must agree."""
    min_overlap: Annotated[float, Field(ge=0.0, le=1.0)] = 0.6
    max_candidates: Annotated[int, Field(ge=1, le=MAX_CLAIM_CANDIDATES)] = 120
    """Passage sentences scored against an answer's claims, at most."""
    judge_model: str = ""
    """A served model also asked whether the passage supports each claim (scored from the log-probabilities
    of "Yes" and "No"; empty: none). It decides closeness only: a number, code or polarity a passage
    contradicts stays unsupported. docs/answers.md measured the default model as one."""
    judge_min_probability: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    judge_timeout_seconds: Annotated[float, Field(gt=0.0)] = 20.0
    """Then the check's own verdicts stand."""
    max_answer_sentences: Annotated[int, Field(ge=1, le=MAX_ANSWER_SENTENCES)] = 8
    """An answer written from passages ends at its first repeated sentence or after this many sentences."""


class AdapterSettings(SettingsGroup):
    """The adapter store (shared.adapter_dir) and the limits uploads are validated against."""

    generator_dir: Path | None = None
    """The adapter folder as the generators see it (empty: shared.adapter_dir)."""
    base_model_config: Path | None = None
    """The served base model's config.json, which gives the layer shapes adapters must fit; empty: the copy
    the generator publishes in the adapter folder."""
    comparisons_dir: Path | None = None
    """The tutorbook-compare results the advisor reads: <comparisons_dir>/<dataset>/comparison.json
    (empty: <data_dir>/comparisons)."""
    max_upload_bytes: int = 200_000_000
    max_unpacked_bytes: int = 400_000_000
    require_eval_win: bool = False
    """Store but do not activate an adapter whose card shows it no better than few-shot prompting."""
    unload_grace_seconds: float = 60.0
    """How long a replaced version stays loaded, so requests already running on it finish."""
    lock_replicas: Annotated[int, Field(ge=0, le=5)] = 0
    """Behind Redis Sentinel: an upload, activation, rollback or deletion of an adapter starts only once
    this many replicas have its lock (Redis ``WAIT``, up to half of state.redis_timeout_seconds; fewer in
    time: 503, nothing changed), so a failover cannot let a second change to the same name start while the
    first runs (docs/state.md). 0: the primary's word."""
    rollout_max_events: Annotated[int, Field(ge=100, le=1_000_000)] = 5000
    """A rollout's evidence kept in Redis: its newest answers, comparisons and ratings (about 100 bytes
    each); the decision is made on these."""
    rollout_max_queued_comparisons: Annotated[int, Field(ge=0, le=10_000)] = 16
    """Requests waiting to be answered by a rollout's second version in the background; beyond this (or
    with no idle generation slot), a comparison is dropped, never queued behind users. 0: no comparisons
    (a rollout then takes a canary only, and a classifier's cannot be judged on agreement)."""
    rollout_comparisons_in_lulls: bool = True
    """Comparisons run only when no user's generation has run on this gateway for a quarter of a second,
    and give way to one who comes (on a CPU, where a vLLM step is most of a short answer). False: whenever
    a generation slot is free and nobody waits for one (on a GPU, which batches them with users' cheaply;
    docs/adapters.md)."""


class GatewaySettings(ServiceSettings):
    service = "gateway"

    server: ServerSettings = Field(default_factory=ServerSettings)
    keys: KeySettings = Field(default_factory=KeySettings)
    upstreams: UpstreamSettings = Field(default_factory=UpstreamSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    router: RouterSettings = Field(default_factory=RouterSettings)
    answers: AnswerSettings = Field(default_factory=AnswerSettings)
    claims: ClaimSettings = Field(default_factory=ClaimSettings)
    adapters: AdapterSettings = Field(default_factory=AdapterSettings)

    @model_validator(mode="after")
    def _what_a_cluster_cannot_keep(self) -> "GatewaySettings":
        if self.shared.redis_cluster and self.keys.records_target() is None:
            raise ValueError(
                "with a Redis Cluster (TUTORBOOK_REDIS_CLUSTER) the access records need a Redis of their own: "
                "set TUTORBOOK_GATEWAY_KEYS__RECORDS_REDIS_URL (or its sentinels)"
            )
        if self.shared.redis_cluster and self.adapters.lock_replicas:
            raise ValueError(
                "TUTORBOOK_GATEWAY_ADAPTERS__LOCK_REPLICAS waits for replicas behind Redis Sentinel; "
                "a Redis Cluster (TUTORBOOK_REDIS_CLUSTER) cannot confirm a lock that way"
            )
        if self.adapters.lock_replicas and not self.shared.redis_target().configured:
            raise ValueError(
                "TUTORBOOK_GATEWAY_ADAPTERS__LOCK_REPLICAS needs Redis behind Sentinel, and no Redis is set"
            )
        return self
