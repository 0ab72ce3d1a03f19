"""Resident memory of every service through a run: each service's process and its children (vLLM's engine
workers), sampled by a background thread; and the slope that says whether it levels off."""

import threading
import time
from dataclasses import dataclass, field

import psutil

MIB = 1024 * 1024


def tree_rss_mib(pid: int) -> float:
    """RSS of the process and all its descendants, in MiB (0 when it is gone)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total / MIB


@dataclass
class MemorySampler:
    """Samples ``{service: MiB}`` every ``interval`` seconds between ``start()`` and ``stop()``."""

    pids: dict[str, int]
    interval: float = 1.0
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> "MemorySampler":
        started = time.monotonic()

        def sample() -> None:
            while not self._stopping.is_set():
                now = time.monotonic() - started
                self.samples.append((now, {name: tree_rss_mib(pid) for name, pid in self.pids.items()}))
                self._stopping.wait(self.interval)

        self._thread = threading.Thread(target=sample, name="memory-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[tuple[float, dict[str, float]]]:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        return self.samples

    def series(self, service: str) -> tuple[list[float], list[float]]:
        return [t for t, _ in self.samples], [values[service] for _, values in self.samples]


def slope_mib_per_minute(seconds: list[float], mib: list[float]) -> float:
    """Least-squares slope of memory over time, in MiB per minute (0 for fewer than two samples)."""
    n = len(seconds)
    if n < 2:
        return 0.0
    mean_t, mean_m = sum(seconds) / n, sum(mib) / n
    spread = sum((t - mean_t) ** 2 for t in seconds)
    if spread == 0:
        return 0.0
    return sum((t - mean_t) * (m - mean_m) for t, m in zip(seconds, mib, strict=True)) / spread * 60


def memory_summary(sampler: MemorySampler) -> dict[str, dict[str, float]]:
    """Per service: first, peak and last MiB, and the slope over the whole run, over its second half
    (after warm-up: a level that is still climbing there is a leak) and over its last third (on a long
    soak, whether growth that slows has stopped)."""
    summary: dict[str, dict[str, float]] = {}
    for service in sampler.pids:
        seconds, mib = sampler.series(service)
        if not mib:
            continue
        half, third = len(seconds) // 2, len(seconds) * 2 // 3
        summary[service] = {
            "first_mib": mib[0],
            "peak_mib": max(mib),
            "last_mib": mib[-1],
            "slope_mib_per_min": slope_mib_per_minute(seconds, mib),
            "second_half_slope_mib_per_min": slope_mib_per_minute(seconds[half:], mib[half:]),
            "last_third_slope_mib_per_min": slope_mib_per_minute(seconds[third:], mib[third:]),
        }
    return summary
