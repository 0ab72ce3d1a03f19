import platform

import pytest
import torch

from tutorbook_generator.launcher import build_vllm_command
from tutorbook_generator.precision import bf16_supported, serving_dtype
from tutorbook_generator.settings import GeneratorSettings


def cpu_with(monkeypatch: pytest.MonkeyPatch, *, avx512_bf16: bool) -> None:
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)  # oneDNN says yes on AVX-512
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_bfloat16_is_used_only_where_the_cpu_has_instructions_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu_with(monkeypatch, avx512_bf16=False)
    assert not bf16_supported()  # emulated: slower than float32
    cpu_with(monkeypatch, avx512_bf16=True)
    assert bf16_supported()


def test_vllm_computes_in_float32_on_a_cpu_that_would_emulate_bfloat16(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu_with(monkeypatch, avx512_bf16=False)
    command = build_vllm_command(GeneratorSettings(), "model", {})
    assert command[command.index("--dtype") + 1] == "float32"
    cpu_with(monkeypatch, avx512_bf16=True)
    command = build_vllm_command(GeneratorSettings(), "model", {})
    assert command[command.index("--dtype") + 1] == "bfloat16"


def test_a_named_dtype_is_passed_as_is_and_a_gpu_keeps_the_models_own(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu_with(monkeypatch, avx512_bf16=False)
    assert serving_dtype("bfloat16") == "bfloat16"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert serving_dtype("auto") == "auto"
