import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tutorbook_config.service_settings import configured
from tutorbook_generator import model_prep
from tutorbook_generator.launcher import (
    adapters_to_preload,
    allocator_library,
    build_vllm_command,
    build_vllm_env,
    resolve_model,
)
from tutorbook_generator.probes import ProbeMiddleware, send_json
from tutorbook_generator.settings import GeneratorSettings


def test_command_enables_lora_and_probes(tmp_path: Path) -> None:
    settings = configured(
        GeneratorSettings, shared__data_dir=tmp_path, server__port=9123, engine__extra_args="--seed 7"
    )
    command = build_vllm_command(settings, "/models/x", {})
    joined = " ".join(command)
    assert command[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert "--model /models/x" in joined and "--served-model-name smollm2-135m-instruct" in joined
    assert "--enable-lora" in command and "--max-lora-rank 16" in joined and "--port 9123" in joined
    assert "--middleware tutorbook_generator.probes.ProbeMiddleware" in joined
    assert command[-2:] == ["--seed", "7"]


def stored(root: Path, folder: str, file_name: str, content: str = '{"r": 8}') -> Path:
    (root / folder).mkdir(parents=True)
    (root / folder / file_name).write_text(content)
    return root / folder


def test_a_starting_replica_loads_every_active_lora_version_before_it_listens(tmp_path: Path) -> None:
    """Only active versions, only LoRA adapters (an embedding classifier is not the generator's), not a
    pointer being written (``.active/.<name>.<random>``), and not one vLLM would refuse to start over (a
    rank above this generator's largest)."""
    adapters = tmp_path / "adapters"
    stored(adapters, "triage@1", "adapter_config.json")
    active = stored(adapters, "triage@2", "adapter_config.json")
    stored(adapters, "intents@1", "classifier.json")
    stored(adapters, "wide@1", "adapter_config.json", '{"r": 64}')
    (adapters / ".active").mkdir()
    pointers = (("triage", "2"), ("intents", "1"), (".triage.5f2a", "1"), ("gone", "3"), ("wide", "1"))
    for pointer, version in pointers:
        (adapters / ".active" / pointer).write_text(f"{version}\n")
    settings = configured(GeneratorSettings, shared__data_dir=tmp_path)
    preloaded = adapters_to_preload(settings)
    assert preloaded == {"triage@2": active.resolve()}
    command = build_vllm_command(settings, "/models/x", preloaded)
    module = json.loads(command[command.index("--lora-modules") + 1])
    assert module == {"name": "triage@2", "path": str(active.resolve())}
    assert (
        adapters_to_preload(
            configured(GeneratorSettings, shared__data_dir=tmp_path, engine__preload_active_adapters=False)
        )
        == {}
    )
    assert "--lora-modules" not in build_vllm_command(settings, "/models/x", {})


def test_env_turns_on_runtime_lora_and_the_filesystem_resolver(tmp_path: Path) -> None:
    env = build_vllm_env(configured(GeneratorSettings, shared__data_dir=tmp_path), {"PATH": "/bin"})
    assert env["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert env["VLLM_PLUGINS"] == "lora_filesystem_resolver,tutorbook_lora_prompt_logprobs"
    assert env["VLLM_LORA_RESOLVER_CACHE_DIR"] == str((tmp_path / "adapters").resolve())
    assert env["HF_HUB_OFFLINE"] == "1" and env["PATH"] == "/bin"


def test_a_better_allocator_is_preloaded_into_vllm_when_one_is_installed(tmp_path: Path) -> None:
    (tmp_path / "x86_64-linux-gnu").mkdir()
    jemalloc = tmp_path / "x86_64-linux-gnu" / "libjemalloc.so.2"
    assert allocator_library("auto", tmp_path) is None  # nothing installed: glibc malloc
    jemalloc.touch()
    assert allocator_library("auto", tmp_path) == str(jemalloc)
    assert allocator_library("", tmp_path) is None and allocator_library("/opt/tc.so", tmp_path) == "/opt/tc.so"
    settings = configured(GeneratorSettings, shared__data_dir=tmp_path, engine__malloc_library="/opt/tc.so")
    assert build_vllm_env(settings, {"LD_PRELOAD": "/x/libgomp.so"})["LD_PRELOAD"] == "/opt/tc.so:/x/libgomp.so"
    assert "LD_PRELOAD" not in build_vllm_env(
        configured(GeneratorSettings, shared__data_dir=tmp_path, engine__malloc_library=""), {}
    )


def test_vllm_answers_only_the_internal_token_which_stays_off_the_command_line(tmp_path: Path) -> None:
    token = "tests-internal-token-0123456789"
    settings = configured(GeneratorSettings, shared__data_dir=tmp_path, shared__internal_token=token)
    env = build_vllm_env(settings, {"TUTORBOOK_INTERNAL_TOKEN": token})
    assert env["VLLM_API_KEY"] == token and "TUTORBOOK_INTERNAL_TOKEN" not in env
    assert token not in " ".join(build_vllm_command(settings, "/models/x", {}))


def test_a_configured_model_folder_is_used_as_is(tmp_path: Path) -> None:
    (tmp_path / "my-model").mkdir()
    settings = configured(GeneratorSettings, shared__data_dir=tmp_path, model__base_model=str(tmp_path / "my-model"))
    assert resolve_model(settings) == str(tmp_path / "my-model")


def test_a_hub_model_is_fetched_once_into_the_model_cache_and_served_from_there(tmp_path: Path) -> None:
    """The GPU default (a hub id): vLLM gets the local folder, so it runs offline and its config.json can
    be published for the gateway's adapter checks."""
    asked: list[dict[str, Any]] = []

    def fake_download(**request: Any) -> str:
        asked.append(request)
        return str(tmp_path / "snapshot")

    settings = configured(
        GeneratorSettings,
        shared__data_dir=tmp_path,
        model__base_model="Qwen/Qwen2.5-7B-Instruct",
        model__base_model_revision="v1",
    )
    assert resolve_model(settings, fake_download) == str(tmp_path / "snapshot")
    assert asked[0]["repo_id"] == "Qwen/Qwen2.5-7B-Instruct" and asked[0]["revision"] == "v1"
    assert asked[0]["cache_dir"] == str(tmp_path / "models" / "hub") and "*.safetensors" in asked[0]["allow_patterns"]


def test_a_hub_model_that_cannot_be_fetched_says_what_to_do(tmp_path: Path) -> None:
    def unreachable(**_request: Any) -> str:
        raise OSError("network unreachable")

    settings = configured(GeneratorSettings, shared__data_dir=tmp_path, model__base_model="Qwen/Qwen2.5-7B-Instruct")
    with pytest.raises(model_prep.ModelPreparationError, match="local model folder"):
        resolve_model(settings, unreachable)


def test_preparation_converts_once_and_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []

    def fake_convert(_gguf: Path, out_dir: Path) -> None:
        calls.append(out_dir)
        out_dir.mkdir(parents=True)
        (out_dir / "config.json").write_text("{}")

    monkeypatch.setattr(model_prep, "find_gguf_file", lambda: tmp_path / "model.gguf")
    monkeypatch.setattr(model_prep, "convert_gguf_to_hf", fake_convert)
    first = model_prep.prepare_default_model(tmp_path / "cache")
    second = model_prep.prepare_default_model(tmp_path / "cache")
    assert first == second == tmp_path / "cache" / model_prep.MODEL_FOLDER_NAME
    assert len(calls) == 1 and calls[0] != first  # written elsewhere, then renamed into place
    assert (first / "config.json").is_file() and model_prep.is_prepared(first)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [model_prep.MODEL_FOLDER_NAME]


def test_a_failed_conversion_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_convert(_gguf: Path, out_dir: Path) -> None:
        out_dir.mkdir(parents=True)
        raise RuntimeError("disk full")

    monkeypatch.setattr(model_prep, "find_gguf_file", lambda: tmp_path / "model.gguf")
    monkeypatch.setattr(model_prep, "convert_gguf_to_hf", broken_convert)
    with pytest.raises(RuntimeError):
        model_prep.prepare_default_model(tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_the_served_models_config_is_published_for_the_gateway(tmp_path: Path) -> None:
    from tutorbook_generator.launcher import publish_base_model_config

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"hidden_size": 576}')
    publish_base_model_config(str(model), tmp_path / "adapters")
    assert (tmp_path / "adapters" / ".base_model" / "config.json").read_text() == '{"hidden_size": 576}'
    assert (tmp_path / "adapters" / ".base_model" / "name").read_text() == str(model)  # what vLLM calls it


@pytest.mark.parametrize("token", ["", "short-token", "replace-with-a-long-random-token"])
def test_the_launcher_refuses_to_start_vllm_with_a_weak_internal_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    """vLLM would answer anyone holding a guessable token: the launcher stops before starting it."""
    from tutorbook_config.key_strength import WeakKeyError
    from tutorbook_generator import launcher

    started: list[list[str]] = []
    monkeypatch.setattr(os, "execve", lambda path, command, env: started.append(command))
    monkeypatch.setenv("TUTORBOOK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TUTORBOOK_INTERNAL_TOKEN", token)
    with pytest.raises(WeakKeyError, match="TUTORBOOK_INTERNAL_TOKEN") as refused:
        launcher.main()
    assert started == [] and (not token or token not in str(refused.value))


def test_the_vllm_plugin_skips_the_lm_head_delta_for_prompt_token_rows() -> None:
    """vLLM's CPU LoRA wrapper gets one row per prompt token where it expects one per request
    (vllm#29955): those rows are left as they are, the per-request rows go to vLLM's own code."""
    import torch

    from tutorbook_generator.vllm_fixes import add_lora_logits_for_prompt_rows

    calls: list[int] = []

    def original(self: object, y: torch.Tensor, x: torch.Tensor, *args: object) -> None:
        calls.append(x.shape[0])

    class Wrapper:
        sampler_indices = torch.zeros(4, dtype=torch.long)

    patched = add_lora_logits_for_prompt_rows(original)
    patched(Wrapper(), torch.zeros(69, 10), torch.zeros(69, 8), None, None, 1.0)  # a request's prompt tokens
    patched(Wrapper(), torch.zeros(4, 10), torch.zeros(4, 8), None, None, 1.0)  # one row per request
    assert calls == [4] and patched.tutorbook_patched


TOKEN = "internal-token-for-tests"


def call(path: str, presented: str | None = None) -> tuple[int, list[str]]:
    """What the middleware in front of vLLM answers (its status), and the paths vLLM itself was asked for."""
    reached: list[str] = []
    statuses: list[int] = []

    async def vllm(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await send_json(send, 200, b"{}")

    async def collect(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    headers = [(b"authorization", f"Bearer {presented}".encode())] if presented else []

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    asyncio.run(ProbeMiddleware(vllm, TOKEN)({"type": "http", "path": path, "headers": headers}, receive, collect))
    return statuses[0], reached


@pytest.mark.parametrize("path", ["/invocations", "/tokenize", "/detokenize", "/pooling", "/v1/chat/completions"])
def test_every_vllm_path_but_the_probes_and_metrics_needs_the_internal_token(path: str) -> None:
    assert call(path) == (401, []) and call(path, "wrong") == (401, [])
    assert call(path, TOKEN) == (200, [path])
    assert call("/metrics") == (200, ["/metrics"]) and call("/readyz") == (200, ["/health"])
    assert call("/healthz") == (200, [])
