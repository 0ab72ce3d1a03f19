"""Gateway settings: one class, read from the environment once, in create_app."""

import hashlib
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tutorbook_config.key_strength import require_strong_keys
from tutorbook_config.local_keys import split_keys
from tutorbook_gateway.chat.claim_checking import ClaimCheckConfig
from tutorbook_gateway.chat.claim_judging import JudgeConfig
from tutorbook_gateway.clients.capacity import Capacity
from tutorbook_gateway.routing import RoutePolicy
from tutorbook_grounding.policy import ClaimsPolicy
from tutorbook_grounding.support import SupportThresholds

# The retriever scores at most 160 texts per call (its MAX_SIMILARITY_TEXTS): sentences and candidates.
MAX_ANSWER_SENTENCES = 32
MAX_CLAIM_CANDIDATES = 128


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUTORBOOK_", extra="ignore")

    host: str = "127.0.0.1"
    gateway_port: int = 8000
    # Worker processes (uvicorn). Above 1, metrics are shared through files (prometheus-client's
    # multiprocess mode, in PROMETHEUS_MULTIPROC_DIR or a fresh temporary folder) and /metrics adds them up.
    gateway_workers: int = 1
    # How long an idle client connection is kept open. Longer than the clients' own pools keep one (httpx:
    # 5 s) and than Retry-After (5 s): a client that waits as told and reuses its connection must not
    # find it closed under its request (uvicorn's 5 s default raced them). 75 s, as nginx.
    keepalive_seconds: int = 75
    retriever_url: str = "http://127.0.0.1:8001"
    generator_url: str = "http://127.0.0.1:8002"
    # Empty: no Redis; cache, sessions, rate limits and feedback live in this process's memory.
    redis_url: str = ""
    redis_timeout_seconds: float = 0.5
    # Without Redis: how many entries of each kind (values, lists, rate-limit buckets) the in-memory store
    # holds; beyond that the least recently written goes.
    memory_store_max_keys: int = 100_000
    # Response cache (deterministic requests only: temperature 0 or a seed).
    cache_enabled: bool = True
    cache_ttl_seconds: float = 3600.0
    # Entries each process keeps to answer a repeated request with no Redis round trip (0: none); they are
    # checked against the index version the process follows through a Redis subscription.
    cache_local_entries: int = 1000
    # "key": an answer is served from the cache only to the API key it was answered for, so a hit never
    # tells one key what another asked (the default: keys may belong to different customers); "shared":
    # every key shares answers (more hits, for deployments whose keys all belong to one product).
    cache_scope: Literal["key", "shared"] = "key"
    # Questions the router decided were small talk, remembered per process (least recently used out) so
    # that while the retriever is down an `auto` request asking one again, or one of the router's own
    # conversation examples, is still answered by plain prompting (0: only the examples).
    small_talk_memory_entries: int = 2000
    # Semantic cache: a single question similar enough to one answered at the current index version gets
    # that answer. Off by default: `make eval-semantic-cache` measures how often it would answer wrongly.
    semantic_cache_enabled: bool = False
    semantic_cache_min_similarity: float = 0.95
    # Conversations (session_id): kept this long after the last turn, at most this many turns of at most
    # this many characters each (a longer message or answer is stored cut, marked " [...]"), and trimmed
    # to about this many tokens of history when sent to the model.
    session_ttl_seconds: float = 86400.0
    session_max_turns: int = 50
    session_max_turn_chars: int = 4000
    session_max_tokens: int = 1200
    # Rate limits per API key (0: unlimited). Overrides: JSON {"<key fingerprint>": {"requests_per_minute":
    # 60, "tokens_per_minute": 20000}}; a key's fingerprint is the first 16 hex digits of its SHA-256.
    rate_limit_requests_per_minute: int = 600
    rate_limit_tokens_per_minute: int = 200_000
    rate_limit_overrides: str = ""
    # Requests of one key this process answers at once (0: no limit); beyond it, 429 with Retry-After.
    max_in_flight_per_key: int = 16
    # When the state store is down: let requests through (true) or refuse them with 503 (false).
    rate_limit_fail_open: bool = True
    # Each process takes about this many seconds' worth of a key's request rate from the shared bucket at a
    # time and admits from it without a round trip; unused tokens go back within a second (0: ask Redis on
    # every request).
    rate_limit_lease_seconds: float = 1.0
    # Feedback on answers: whether POST /v1/feedback records it at all (false: 404), and how long answers
    # can be rated and ratings kept.
    feedback_enabled: bool = True
    feedback_ttl_seconds: float = 30 * 86400.0
    # Signs response ids (they carry what feedback names: route, adapter, model, time). Every replica needs
    # the same one; empty: derived from the admin keys (rotating them ends feedback on earlier answers).
    response_id_secret: str = ""
    # Comma-separated bearer keys. Admin keys may also chat. No keys configured: every request is refused.
    # Each key: at least 16 characters and no placeholder, or the gateway refuses to start.
    api_keys: str = ""
    admin_keys: str = ""
    # The secret shared with the retriever and vLLM (sent as Authorization: Bearer ...); required, and as
    # strong as a key, whenever the gateway calls them.
    internal_token: str = ""
    # The served name of the generator's base model.
    base_model_name: str = "smollm2-135m-instruct"
    # Adapters: the store (shared with the generators, whose filesystem resolver reads it) and the limits
    # uploads are validated against. The base model's config.json gives the layer shapes adapters must fit.
    data_dir: Path = Path("data")
    adapter_dir: Path | None = None  # default <data_dir>/adapters
    # tutorbook-compare results the advisor reads: <comparisons_dir>/<dataset>/comparison.json.
    comparisons_dir: Path | None = None  # default <data_dir>/comparisons
    generator_adapter_dir: Path | None = None  # the same folder as the generators see it (default: adapter_dir)
    # The served base model's config.json; default: the copy the generator publishes in the adapter folder.
    base_model_config: Path | None = None
    max_lora_rank: int = 16
    adapter_max_upload_bytes: int = 200_000_000
    adapter_max_unpacked_bytes: int = 400_000_000
    # Generator replicas to hot-load adapters on: comma-separated URLs (empty: the generator URL), plus
    # every address of a DNS name (a Kubernetes headless service) when set.
    # Two or more explicit replicas also carry chat: balanced by the gateway, a dead replica set aside for
    # generator_replica_down_seconds while the others answer.
    generator_replicas: str = ""
    generator_replica_down_seconds: float = 10.0
    generator_dns: str = ""
    generator_dns_port: int = 8002
    # Store but do not activate an adapter whose card shows it no better than few-shot prompting.
    adapter_require_eval_win: bool = False
    # How long a replaced version stays loaded, so requests already running on it finish.
    adapter_unload_grace_seconds: float = 60.0
    # Router thresholds (see routing.py; chosen on the routing evaluation's dev split, docs/routing.md).
    # rag: the lowest retrieval score (cosine) that counts as a relevant passage; a passage up to
    # rag_agreement_band below it still counts when dense and lexical search agree on it.
    rag_min_score: float = 0.36
    rag_agreement_band: float = 0.04
    # adapter: its best route example must match at least this, and beat the best passage by the margin.
    adapter_min_score: float = 0.45
    adapter_margin: float = 0.05
    # prompt (small talk): the best small-talk example must match at least this, and beat passages by the margin.
    prompt_min_score: float = 0.38
    prompt_margin: float = 0.05
    # abstain instead of prompt: small talk must match at least as well as the off-topic examples plus this.
    off_topic_margin: float = 0.0
    # An adapter with this many generation errors in the last minute is skipped by "auto".
    max_adapter_errors: int = 3
    rag_top_k: int = 4
    rag_context_max_chars: int = 3000
    # The claim check on answers written from passages (docs/answers.md): what happens to a sentence the
    # passages do not support (flag: kept and marked; withhold: dropped, "not sure" when nothing is left;
    # quote: the answer is the supporting passage sentences), and when a passage sentence supports one
    # (its cosine with the sentence, or the share of the sentence's content words it holds; then its facts
    # and polarity must agree).
    claims_policy: ClaimsPolicy = ClaimsPolicy.WITHHOLD
    claims_min_similarity: Annotated[float, Field(ge=0.0, le=1.0)] = 0.6
    claims_min_overlap: Annotated[float, Field(ge=0.0, le=1.0)] = 0.6
    claims_max_candidates: Annotated[int, Field(ge=1, le=MAX_CLAIM_CANDIDATES)] = 120
    # A served model asked, as well, whether the passage supports each claim (scored from the
    # log-probabilities of "Yes" and "No"; empty: none). It decides closeness only: a number, code or
    # polarity a passage contradicts stays unsupported. docs/answers.md measured the default model as one.
    claims_judge_model: str = ""
    claims_judge_min_probability: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    claims_judge_timeout_seconds: Annotated[float, Field(gt=0.0)] = 20.0  # then the check's own verdicts stand
    # The grounded reader (docs/answers.md): an adapter that writes the RAG route's answers in the base
    # model's place while it is active and healthy (empty: the base model writes them).
    rag_reader_adapter: str = ""
    # vLLM's repetition penalty on answers written from passages (1.0: none; docs/answers.md measured it).
    rag_repetition_penalty: Annotated[float, Field(ge=1.0, le=2.0)] = 1.0
    # OpenAI's frequency penalty on answers written from passages (0.0: none; docs/answers.md measured it).
    rag_frequency_penalty: Annotated[float, Field(ge=0.0, le=2.0)] = 0.0
    # An answer written from passages ends at its first repeated sentence or after this many sentences.
    answer_max_sentences: Annotated[int, Field(ge=1, le=MAX_ANSWER_SENTENCES)] = 8
    default_temperature: float = 0.0
    default_max_tokens: int = 256
    # What one chat request may ask for: tokens to generate (max_tokens above this: 400), characters in one
    # message and in all messages (above: 413). Stored turns are bounded by these too.
    max_tokens_limit: int = 1024
    max_message_chars: int = 32_000
    max_request_chars: int = 100_000
    max_request_bytes: int = 16_000_000  # any request body (document batches are large); uploads have their own
    # A chat request's body (413 above it): room for max_request_chars even when every character is escaped.
    chat_max_request_bytes: int = 1_000_000
    upstream_timeout_seconds: float = 120.0
    # After this many calls in a row to the generator (or the retriever) that timed out, calls to it fail
    # at once with 503 for circuit_breaker_open_seconds, then one is tried (0: never open the circuit).
    circuit_breaker_failures: int = 5
    circuit_breaker_open_seconds: float = 10.0
    # Load shedding, per gateway process: at most this many generations sent to vLLM at once (0: no limit),
    # this many more waiting for one, each at most generator_max_wait_seconds; beyond that, 503 with
    # Retry-After at once. 8 suits vLLM on a few CPU cores (at 16, RAG answers there took over the 120 s
    # upstream timeout in a soak); the GPU deployments set 128: vLLM batches hundreds there.
    generator_max_in_flight: int = 8
    generator_max_waiting: int = 32
    generator_max_wait_seconds: float = 15.0
    retriever_timeout_seconds: float = 30.0
    # Document writes through the gateway: the retriever embeds and commits a whole batch before it answers.
    # A body of MAX_REQUEST_BYTES (16 MB, about 18,000 chunks) takes about 2 minutes at the 150 chunks per
    # second measured on 2 CPU cores: this leaves room for a slower machine.
    retriever_write_timeout_seconds: float = 900.0

    def claim_check(self) -> ClaimCheckConfig:
        return ClaimCheckConfig(
            policy=self.claims_policy,
            thresholds=SupportThresholds(self.claims_min_similarity, self.claims_min_overlap),
            max_answer_sentences=self.answer_max_sentences,
            max_candidates=self.claims_max_candidates,
            judge=JudgeConfig(
                self.claims_judge_model.strip(),
                self.claims_judge_min_probability,
                timeout_seconds=self.claims_judge_timeout_seconds,
            ),
        )

    def route_policy(self) -> RoutePolicy:
        """The router's thresholds, as the pure decision function takes them."""
        return RoutePolicy(
            base_model=self.base_model_name,
            rag_min_score=self.rag_min_score,
            rag_agreement_band=self.rag_agreement_band,
            adapter_min_score=self.adapter_min_score,
            adapter_margin=self.adapter_margin,
            prompt_min_score=self.prompt_min_score,
            prompt_margin=self.prompt_margin,
            off_topic_margin=self.off_topic_margin,
            max_adapter_errors=self.max_adapter_errors,
        )

    def response_id_key(self) -> bytes:
        """The key response ids are signed with: the secret, else one derived from the configured keys."""
        if self.response_id_secret:
            return self.response_id_secret.encode()
        keys = sorted(self.admin_key_set()) or sorted(self.api_key_set())
        if not keys:
            return secrets.token_bytes(32)  # no key can call the gateway anyway
        return hashlib.sha256(b"tutorbook response ids\0" + "\0".join(keys).encode()).digest()

    def resolved_adapter_dir(self) -> Path:
        return self.adapter_dir or self.data_dir / "adapters"

    def resolved_comparisons_dir(self) -> Path:
        return self.comparisons_dir or self.data_dir / "comparisons"

    def resolved_base_model_config(self) -> Path:
        return self.base_model_config or self.resolved_adapter_dir() / ".base_model" / "config.json"

    def generator_capacity(self) -> Capacity:
        return Capacity(self.generator_max_in_flight, self.generator_max_waiting, self.generator_max_wait_seconds)

    def chat_replica_urls(self) -> list[str]:
        """Where chat goes: the explicit replicas when there are two or more, else the generator URL."""
        explicit = [url.strip() for url in self.generator_replicas.split(",") if url.strip()]
        return explicit if len(explicit) > 1 else [self.generator_url]

    def replica_urls(self) -> list[str]:
        """Explicit replicas; else none when DNS names them all; else the generator URL."""
        explicit = [url.strip() for url in self.generator_replicas.split(",") if url.strip()]
        return explicit or ([] if self.generator_dns else [self.generator_url])

    def check_keys(self, calls_upstreams: bool) -> None:
        """Refuse weak keys (raises :class:`~tutorbook_config.key_strength.WeakKeyError`)."""
        require_strong_keys("TUTORBOOK_API_KEYS", sorted(self.api_key_set()))
        require_strong_keys("TUTORBOOK_ADMIN_KEYS", sorted(self.admin_key_set()))
        if calls_upstreams:
            require_strong_keys("TUTORBOOK_INTERNAL_TOKEN", [self.internal_token])

    def api_key_set(self) -> frozenset[str]:
        return frozenset(split_keys(self.api_keys))

    def admin_key_set(self) -> frozenset[str]:
        return frozenset(split_keys(self.admin_keys))
