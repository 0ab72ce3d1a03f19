"""A capacity model driven by measured service times: what ``make load``'s mix costs per request, and a
simulation of N closed-loop users that predicts its latency at higher concurrency.

Inputs, both measured with one user (``make load``'s mix, one request after another):
- each answered request's latency alone (its service time, by kind: RAG, cache hit, small talk, adapter,
  stream), sampled as measured;
- the CPU the whole stack (every process of it, vLLM's engine included) used meanwhile, as cores busy
  per request in flight (``cores_per_request``).

- vLLM's own throughput with n requests at once, relative to one (``speedup``: batching makes n answers
  cost less than n times one), measured on vLLM directly with requests of the mix's length.

The model: the machine is one processor-sharing server; with n requests in flight it does ``speedup(n)``
requests' worth of work per second (never more than n), shared equally, so each request progresses at
``speedup(n) / n`` of its speed alone. N users send requests back to back, each drawn from the one-user
samples. Nothing in it is fitted to the levels it predicts.
"""

import itertools
import random
from dataclasses import dataclass

from tutorbook_devstack.bench_report import percentile


@dataclass(frozen=True)
class ServiceTimes:
    seconds: list[float]  # each answered request's latency with one user in the system
    cores_per_request: float  # the stack's CPU seconds per wall second, one request always in flight
    cores: int
    speedups: dict[int, float]  # vLLM's throughput with n requests at once over its throughput with one

    def speedup(self, in_flight: int) -> float:
        """Interpolated between the measured points (linearly), flat beyond the last."""
        points = sorted({1: 1.0, **self.speedups}.items())
        for (low, low_value), (high, high_value) in itertools.pairwise(points):
            if in_flight <= high:
                return low_value + (high_value - low_value) * (in_flight - low) / (high - low)
        return points[-1][1]

    @property
    def cpu_seconds_per_request(self) -> float:
        return self.cores_per_request * sum(self.seconds) / len(self.seconds)


def simulate(times: ServiceTimes, users: int, requests: int = 20_000, seed: int = 0) -> list[float]:
    """Latencies (seconds) of ``requests`` answers with ``users`` users sending back to back."""
    rng = random.Random(seed)
    remaining: dict[int, float] = {}  # user -> work left (seconds at full speed)
    started: dict[int, float] = {}
    now, latencies = 0.0, list[float]()
    for user in range(users):
        remaining[user], started[user] = rng.choice(times.seconds), 0.0
    while len(latencies) < requests:
        rate = min(1.0, times.speedup(len(remaining)) / len(remaining))
        user, work = min(remaining.items(), key=lambda item: item[1])
        step = work / rate
        now += step
        for other in remaining:
            remaining[other] -= step * rate
        latencies.append(now - started[user])
        remaining[user], started[user] = rng.choice(times.seconds), now
    return latencies


def predicted(times: ServiceTimes, users: int) -> dict[str, float]:
    latencies = simulate(times, users)
    return {
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "requests_per_second": len(latencies) / max(1e-9, _span(latencies, users)),
    }


def _span(latencies: list[float], users: int) -> float:
    """Simulated time elapsed: the users' latencies add up to ``users`` times the span."""
    return sum(latencies) / users


def machines_needed(requests_per_second: float, answers_per_second_per_machine: float) -> float:
    """Machines a rate needs, each answering at most what one answered at its best (measured)."""
    return requests_per_second / answers_per_second_per_machine
