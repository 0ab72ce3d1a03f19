"""A capacity model driven by measured service times: what ``make load``'s mix costs per request, and a
simulation of the load tool's own protocol that predicts its latency at any number of users.

Inputs, all measured with one request in flight except vLLM's batching (``capacity.py`` measures them):
- every answer's latency alone, split into its **generation** (the gateway's ``generate`` phase: the
  time it holds a generation slot and vLLM works for it) and **the rest** (gateway, retriever, embeddings,
  the claim check), as ``Sample``;
- the cores the rest keeps busy alone (the gateway's, the retriever's and Redis's CPU over the rest's
  seconds): ``Machine.rest_cores``;
- vLLM's throughput with n requests at once over one (``speedup``), measured on vLLM directly;
- the gateway's generation slots (``generator_max_in_flight``): more generations than that wait in line.

The model: each request does its rest, then (if it generates) waits for a slot and generates. The
machine's cores are shared in proportion to demand: each request in its rest wants ``rest_cores``, vLLM
wants every core while it has work. When demand exceeds the cores, everything slows alike; a generating
request also progresses at ``speedup(m) / m`` with m generating (batching). Users start together and
send back to back until the window closes; every request started is finished, as the load tool does.
Nothing in it is fitted to a level it predicts.
"""

import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tutorbook_devstack.bench_report import percentile


@dataclass(frozen=True)
class Sample:
    seconds: float  # the answer's latency alone
    generating: float  # of which generating (0: answered without vLLM, a cache hit)
    kind: str = "any"  # the mix's kind it was sent as

    @property
    def rest(self) -> float:
        return self.seconds - self.generating


@dataclass(frozen=True)
class Machine:
    cores: int
    rest_cores: float  # cores one request's rest keeps busy alone
    slots: int  # generations at once; more wait in line (the gateway's generator_max_in_flight)
    speedups: dict[int, float]  # vLLM's throughput with n requests at once over its throughput with one

    def speedup(self, in_flight: int) -> float:
        """Interpolated between the measured points (linearly), flat beyond the last."""
        points = sorted({1: 1.0, **self.speedups}.items())
        for (low, low_value), (high, high_value) in itertools.pairwise(points):
            if in_flight <= high:
                return low_value + (high_value - low_value) * (in_flight - low) / (high - low)
        return points[-1][1]

    def speeds(self, resting: int, generating: int) -> tuple[float, float]:
        """How fast (1: as alone) a request in its rest, and one generating, progress now."""
        demand = resting * self.rest_cores + (self.cores if generating else 0)
        share = min(1.0, self.cores / demand) if demand else 1.0
        batched = self.speedup(generating) / generating if generating else 1.0
        return share, share * min(1.0, batched)


Kinds = Callable[[int], Iterator[str]]  # a user's number -> the kinds it sends, in order


def any_kind(user: int) -> Iterator[str]:
    return itertools.repeat("any")


@dataclass(eq=False)  # each request is itself: two alike are still two
class Request:
    user: int
    sample: Sample
    started: float
    left: float  # seconds of work (at speed 1) left in the current phase
    phase: str = "rest"  # rest, waiting (for a slot), generating


@dataclass
class Window:
    """One run of the load tool's protocol, simulated: each user's requests are of the kinds it sends,
    each one's service time drawn from the samples of its kind."""

    machine: Machine
    samples: dict[str, list[Sample]]
    kinds: list[Iterator[str]]
    rng: random.Random
    now: float = 0.0
    requests: list[Request] = field(default_factory=list)
    line: list[Request] = field(default_factory=list)  # waiting for a slot, first come first served
    latencies: list[float] = field(default_factory=list)

    def start(self, user: int) -> None:
        sample = self.rng.choice(self.samples[next(self.kinds[user])])
        self.requests.append(Request(user, sample, self.now, sample.rest))

    def step(self) -> Request:
        """Advance to the next phase end; the request whose phase ended."""
        resting = sum(1 for r in self.requests if r.phase == "rest")
        generating = sum(1 for r in self.requests if r.phase == "generating")
        speeds = dict(zip(("rest", "generating"), self.machine.speeds(resting, generating), strict=True))
        active = [r for r in self.requests if r.phase != "waiting"]
        first = min(active, key=lambda r: r.left / speeds[r.phase])
        elapsed = first.left / speeds[first.phase]
        for request in active:
            request.left -= elapsed * speeds[request.phase]
        self.now += elapsed
        return first

    def advance(self, ended: Request) -> bool:
        """The next phase of ``ended``; True when the request is answered."""
        slots_free = self.machine.slots - sum(1 for r in self.requests if r.phase == "generating")
        if ended.phase == "rest" and ended.sample.generating > 0:
            ended.phase, ended.left = "waiting", ended.sample.generating
            self.line.append(ended)
        else:
            self.requests.remove(ended)
            self.latencies.append(self.now - ended.started)
            slots_free += ended.phase == "generating"
        while self.line and slots_free > 0:
            self.line.pop(0).phase = "generating"
            slots_free -= 1
        return ended not in self.requests


def by_kind(samples: list[Sample]) -> dict[str, list[Sample]]:
    grouped: dict[str, list[Sample]] = {}
    for sample in samples:
        grouped.setdefault(sample.kind, []).append(sample)
    return grouped


def simulate(
    machine: Machine, samples: list[Sample], users: int, seconds: float, seed: int = 0, kinds: Kinds = any_kind
) -> tuple[list[float], float]:
    """Latencies of every request ``users`` users start within ``seconds``, each sending back to back, and
    when the last one ended."""
    window = Window(machine, by_kind(samples), [kinds(user) for user in range(users)], random.Random(seed))
    for user in range(users):
        window.start(user)
    while window.requests:
        ended = window.step()
        if window.advance(ended) and window.now < seconds:
            window.start(ended.user)
    return window.latencies, window.now


def predicted(
    machine: Machine, samples: list[Sample], users: int, seconds: float, runs: int = 40, kinds: Kinds = any_kind
) -> dict[str, float]:
    """p50 and p95 over ``runs`` simulated windows, and answers a second (answers over the window's span)."""
    latencies, rates = [], []
    for seed in range(runs):
        answered, span = simulate(machine, samples, users, seconds, seed, kinds)
        latencies += answered
        rates.append(len(answered) / span)
    return {
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "requests_per_second": sum(rates) / len(rates),
    }


def machines_needed(requests_per_second: float, answers_per_second_per_machine: float) -> float:
    """Machines a rate needs, each answering at most what one answered at its best (measured)."""
    return requests_per_second / answers_per_second_per_machine
