"""What every benchmark reports: percentiles of its samples, and a JSON file of its figures with the
machine and the command, so that runs can be compared."""

import datetime
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tutorbook_devstack.bench_machine import describe_code, describe_cpu

RESULTS_DIR = Path("data/bench")


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(samples: list[float]) -> dict[str, float]:
    """n, mean, p50, p95, p99 (in the samples' unit)."""
    return {
        "n": len(samples),
        "mean": statistics.fmean(samples),
        "p50": statistics.median(samples),
        "p95": percentile(samples, 0.95),
        "p99": percentile(samples, 0.99),
    }


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    """``call()``'s result and the seconds it took."""
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def machine_words(machine: dict[str, Any]) -> str:
    """A result file's machine in words ("2 cores, <CPU model> (<its inference flags>)"), for every line
    that names where figures were measured."""
    if not machine:
        return "this machine"
    words = f"{machine.get('cores', '?')} cores, {machine.get('cpu') or machine.get('processor', '?')}"
    if machine.get("cpu_flags") is not None:  # recorded since 2026-12-07: what bf16 inference can use
        words += f" ({', '.join(machine['cpu_flags']) or 'no AVX2'})"
    return words


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        **describe_cpu(),
        "python": platform.python_version(),
        "system": platform.platform(),
    }


def command_name() -> str:
    """How this process was started: ``python -m PACKAGE`` for a module run with ``-m``, else the script."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        return f"python -m {spec.name.removesuffix('.__main__')}"
    return Path(sys.argv[0]).name


def write_results(name: str, figures: dict[str, Any], path: Path | None = None) -> Path:
    """``data/bench/<name>.json`` unless told otherwise: the figures, the machine, the command, the commit
    measured, the time."""
    target = path or RESULTS_DIR / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": name,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join([command_name(), *sys.argv[1:]]),
        "commit": describe_code(__file__),
        "machine": machine(),
        "figures": figures,
    }
    target.write_text(json.dumps(document, indent=2) + "\n")
    return target
