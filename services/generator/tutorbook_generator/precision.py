"""Which floating-point type to compute in: bfloat16 only where the hardware multiplies it natively.

One owner for the question, asked by the generator's launcher (vLLM's --dtype) and by adapter training.
"""

import platform

import torch

AUTO = "auto"


def bf16_supported() -> bool:
    """bfloat16 matrix multiplication in hardware (AVX512-BF16 or AMX on x86). oneDNN also reports bfloat16
    on an AVX-512 CPU without it, where it is emulated and slower than float32, so on x86 ask for the
    instructions themselves. Measured on such a CPU (2026-12-07): vLLM answered a one-token chat in 419 ms
    at the median in bfloat16 and 156 ms in float32 (docs/deployment.md); adapter training took 11 s a
    step against 4 s."""
    if platform.machine() in ("x86_64", "AMD64"):
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def serving_dtype(setting: str) -> str:
    """vLLM's --dtype for ``setting``: a named type is kept; "auto" is the model's own type on a GPU, and on
    a CPU bfloat16 where it is native, float32 where it is not."""
    if setting != AUTO:
        return setting
    if torch.cuda.is_available():
        return AUTO
    return "bfloat16" if bf16_supported() else "float32"
