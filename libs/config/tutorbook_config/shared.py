"""The settings that mean one thing in every service that reads them. Each is one variable,
``TUTORBOOK_<NAME>``, with no service in its name: a deployment sets it once, for every service."""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, model_validator

from tutorbook_config.redis_target import RedisTarget, redis_target

DEFAULT_BASE_MODEL_NAME = "smollm2-135m-instruct"
# What the generator publishes in the adapter folder for the gateway: the served model's config.json (the
# layer shapes uploads must fit) and the name vLLM knows it by (written into every stored adapter, since the
# filesystem resolver loads an adapter only when its base_model_name_or_path says exactly that).
BASE_MODEL_CONFIG = Path(".base_model") / "config.json"
BASE_MODEL_NAME = Path(".base_model") / "name"


class SharedSettings(BaseModel):
    """Read by more than one service, with one meaning everywhere."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, frozen=True)

    internal_token: str = ""
    """The secret the gateway sends to the retriever and vLLM (Authorization: Bearer ...). Every service
    refuses to start without one as strong as a key (16 characters or more, no placeholder) when it is
    called or calls another. Read by: gateway, retriever, generator."""

    data_dir: Path = Path("data")
    """The folder each service keeps its files under, each in subfolders of its own (the gateway:
    adapters/, comparisons/; the retriever: qdrant-edge/, models/onnx/; the generator: models/, adapters/).
    One folder may serve all three on one machine. Read by: gateway, retriever, generator."""

    redis_url: str = ""
    """The gateways' Redis (sessions, cache, rate limits, feedback, adapter locks); the retriever publishes
    the index version there. Empty: no Redis, and the gateway keeps that state in its own memory (unless
    the sentinels below are set instead). Read by: gateway, retriever."""

    redis_sentinels: str = ""
    """Redis Sentinel instead of ``redis_url``: the sentinels, ``host:port`` separated by commas. The
    clients ask them for the current primary, so a failover needs no restart (docs/state.md says what a
    failover may lose). Read by: gateway, retriever."""

    redis_sentinel_master: str = ""
    """The name the sentinels monitor the primary under (``sentinel monitor <name> ...``); needed with
    ``redis_sentinels``. Read by: gateway, retriever."""

    redis_password: str = ""
    """Behind ``redis_sentinels``: the password of the primary and its replicas (their ``requirepass``).
    With ``redis_url`` the password is part of the URL (``redis://:password@host:6379/0``; ``rediss://``
    for TLS). Read by: gateway, retriever."""

    redis_sentinel_password: str = ""
    """The sentinels' own password (Sentinel's ``requirepass``), when they ask for one. Read by: gateway,
    retriever."""

    redis_cluster: bool = False
    """``redis_url`` is one node of a Redis Cluster (managed Redis services often run in cluster mode): the
    clients discover the other nodes and send each key to the node that holds its slot; every key a script
    or a transaction touches together shares one slot (docs/state.md). Read by: gateway, retriever."""

    otlp_endpoint: str = ""
    """An OpenTelemetry collector's OTLP/HTTP address (``http://collector:4318``): each service exports a
    span per request and per step to it, one trace per request across the gateway, the retriever and vLLM
    (the trace context travels in ``traceparent``). Empty: nothing is traced or exported. Read by:
    gateway, retriever, generator."""

    adapter_dir: Path | None = None
    """The adapter store: the gateway writes uploaded adapters there, vLLM's filesystem resolver reads
    them. Empty: ``<data_dir>/adapters``. Read by: gateway, generator."""

    max_lora_rank: int = 16
    """The largest LoRA rank vLLM is started for; the gateway refuses an upload above it. Read by: gateway,
    generator."""

    model_cache_dir: Path | None = None
    """Where models prepared once from their wheels are kept: the generator's converted base model, the
    retriever's ONNX export of its embedder. Several data folders (tests, benchmarks) may share one.
    Empty: <data_dir>/models. Read by: retriever, generator."""

    base_model_name: str = DEFAULT_BASE_MODEL_NAME
    """The name vLLM serves the base model under, and the name clients send as ``model`` to ask it
    directly. Read by: gateway, generator."""

    @model_validator(mode="after")
    def _one_redis(self) -> "SharedSettings":
        self.redis_target()  # a ValueError names what does not fit
        return self

    def redis_target(self) -> RedisTarget:
        return redis_target(
            self.redis_url,
            self.redis_sentinels,
            self.redis_sentinel_master,
            self.redis_cluster,
            self.redis_password,
            self.redis_sentinel_password,
        )

    def otlp_traces_url(self) -> str:
        """The collector's OTLP/HTTP traces URL (``http://collector:4318`` -> ``.../v1/traces``); empty: none."""
        endpoint = self.otlp_endpoint.rstrip("/")
        if not endpoint or endpoint.endswith("/v1/traces"):
            return endpoint
        return f"{endpoint}/v1/traces"

    def resolved_adapter_dir(self) -> Path:
        return self.adapter_dir or self.data_dir / "adapters"

    def resolved_model_cache_dir(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"
