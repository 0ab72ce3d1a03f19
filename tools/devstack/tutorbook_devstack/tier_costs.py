"""``make tier-costs``: what one request of ``make load``'s mix costs each tier, and what each tier needs at
100, 1,000 and 10,000 requests a second (docs/scaling.md quotes the result file).

On a stack of its own (``make load``'s ports and mix), after a warm-up, every request the mix can send is
sent once, alone, on a key of its own (a text the cache keeps is sent twice, and measured the second time:
in the mix it is the repeated text). Around each measured request, from a quiet stack to a quiet stack
(vLLM on CPU stays busy for a while after a request): the CPU time of each service's processes (vLLM's
engine workers with the generator) and the commands Redis processed, less what each uses idle; the
gateway's Redis round trips (its own ``tutorbook_gateway_redis_round_trips`` histogram, by route); vLLM's
token counters. Each kind's mean, weighted by the mix, is one request's cost; a rate times that cost is
what the tier must do a second.

One request at a time is the cost without batching: vLLM batches under load (``make capacity`` measures
by how much on this machine) and the other tiers' per-request CPU changes little with concurrency.
"""

import argparse
import asyncio
import csv
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

from tutorbook_devstack.__main__ import stop_on_sigterm
from tutorbook_devstack.bench_report import write_results
from tutorbook_devstack.capacity import (
    CACHED_KINDS,
    FRESH_KEYS,
    RequestShape,
    capacity_stack,
    stack_cpu_seconds,
    vllm_answers_per_second,
    vllm_counts,
)
from tutorbook_devstack.load.__main__ import USER_KEYS, prepare
from tutorbook_devstack.load.driver import CLIENT_TIMEOUT_SECONDS, Level, run_level, send
from tutorbook_devstack.load.mix import MIX, MixSources, request_of, topics
from tutorbook_devstack.stack import Stack, running_stack

RATES = (100, 1000, 10000)
GENERATOR_CONCURRENCY = (1, 4, 8, 16)
TIERS = ("gateway", "retriever", "redis", "generator")
ROUND_TRIPS = "tutorbook_gateway_redis_round_trips"
SETTLE_SECONDS = 0.3  # after an answer, for its background writes to be counted with it (idle time is taken off)
QUIET_WINDOW_SECONDS = 0.5  # vLLM on CPU keeps its cores busy for a while after a request: each request is
QUIET_MARGIN_CORES = 0.05  # measured from a quiet stack (every tier within this of idle over a window) to
QUIET_LONGEST_SECONDS = 15.0  # a quiet stack again, so it carries its own tail and not its predecessor's
SERIALS = 800_000_000  # far from the load tool's and the capacity run's: every question is new


@dataclass
class KindCost:
    """Totals over one kind's measured requests."""

    requests: int = 0
    cpu_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TIERS, 0.0))
    round_trips: float = 0.0
    redis_commands: float = 0.0
    prompt_tokens: float = 0.0
    generated_tokens: float = 0.0
    vllm_requests: float = 0.0

    def per_request(self) -> dict[str, Any]:
        n = max(1, self.requests)
        return {
            "requests": self.requests,
            "cpu_ms": {tier: seconds * 1000 / n for tier, seconds in self.cpu_seconds.items()},
            "redis_round_trips": self.round_trips / n,
            "redis_commands": self.redis_commands / n,
            "prompt_tokens": self.prompt_tokens / n,
            "generated_tokens": self.generated_tokens / n,
        }


@dataclass(frozen=True)
class Snapshot:
    at: float
    cpu: dict[str, float]
    round_trips: dict[str, tuple[float, float]]  # by route: round trips, requests
    tokens: dict[str, float]
    redis_commands: float


def round_trips_by_route(gateway_url: str) -> dict[str, tuple[float, float]]:
    """The gateway's Redis round trips on chat requests so far, and the requests, by route (its histogram's
    sum and count)."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{gateway_url}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name in (f"{ROUND_TRIPS}_sum", f"{ROUND_TRIPS}_count"):
                kept = sums if sample.name.endswith("_sum") else counts
                route = sample.labels.get("route", "")
                kept[route] = kept.get(route, 0.0) + sample.value
    return {route: (sums.get(route, 0.0), counts.get(route, 0.0)) for route in sums.keys() | counts.keys()}


class Meter:
    """What the stack has done so far: each tier's CPU time, the gateway's round trips, the commands Redis
    processed, vLLM's tokens. The CPU is read closest to the request (after the scrapes before it, before
    them after it), so the scrapes' own work is not counted; the idle rates (CPU, Redis commands: the
    gateway's and the retriever's timers) are taken off."""

    def __init__(self, stack: Stack) -> None:
        self._stack = stack
        self.gateway_url = stack.config.gateway_url
        self._pids = {tier: [stack.services[tier].process.pid] for tier in TIERS}
        self._redis = redis.Redis(host=stack.config.host, port=stack.config.redis_port)
        self.idle = dict.fromkeys(TIERS, 0.0)
        self.idle_commands = 0.0  # a second

    def cpu(self) -> dict[str, float]:
        return {tier: stack_cpu_seconds(self._pids[tier]) for tier in TIERS}

    def measure_idle(self, seconds: float) -> None:
        """Each tier's CPU while nothing is asked (vLLM's loops, the gateway's refreshes), in cores busy, and
        the commands Redis gets meanwhile, a second."""
        started, cpu, commands = time.monotonic(), self.cpu(), self._commands()
        time.sleep(seconds)
        elapsed, now = time.monotonic() - started, self.cpu()
        self.idle_commands = (self._commands() - 1 - commands) / elapsed
        self.idle = {tier: (now[tier] - cpu[tier]) / elapsed for tier in TIERS}

    async def quiet(self) -> None:
        """Until every tier has used no more than its idle CPU (plus a margin) over a window, or a while."""
        deadline = time.monotonic() + QUIET_LONGEST_SECONDS
        while time.monotonic() < deadline:
            started, cpu = time.monotonic(), self.cpu()
            await asyncio.sleep(QUIET_WINDOW_SECONDS)
            elapsed, now = time.monotonic() - started, self.cpu()
            busy = {tier: (now[tier] - cpu[tier]) / elapsed - self.idle[tier] for tier in TIERS}
            if max(busy.values()) <= QUIET_MARGIN_CORES:
                return

    def _commands(self) -> float:
        return float(self._redis.info("stats")["total_commands_processed"])  # this INFO not yet counted

    def _counters(self) -> tuple[dict[str, tuple[float, float]], dict[str, float], float]:
        generator = str(self._stack.config.url(self._stack.config.generator_port))
        commands = self._commands()
        trips = round_trips_by_route(self.gateway_url)
        return trips, vllm_counts(generator, self._stack.config.internal_token), commands

    def before(self) -> Snapshot:
        trips, tokens, commands = self._counters()
        return Snapshot(time.monotonic(), self.cpu(), trips, tokens, commands)

    def after(self) -> Snapshot:
        at, cpu = time.monotonic(), self.cpu()
        trips, tokens, commands = self._counters()
        return Snapshot(at, cpu, trips, tokens, commands - 1)  # less the INFO of ``before``


def add_difference(
    cost: KindCost, before: Snapshot, after: Snapshot, meter: Meter, by_route: dict[str, list[float]]
) -> None:
    cost.requests += 1
    elapsed = after.at - before.at
    for tier in TIERS:
        used = after.cpu[tier] - before.cpu[tier] - meter.idle[tier] * elapsed
        cost.cpu_seconds[tier] += max(0.0, used)
    for route, (trips, requests) in after.round_trips.items():
        trips_before, requests_before = before.round_trips.get(route, (0.0, 0.0))
        totals = by_route.setdefault(route, [0.0, 0.0])
        totals[0] += trips - trips_before
        totals[1] += requests - requests_before
        cost.round_trips += trips - trips_before
    cost.redis_commands += max(0.0, after.redis_commands - before.redis_commands - meter.idle_commands * elapsed)
    cost.prompt_tokens += after.tokens["prompt"] - before.tokens["prompt"]
    cost.generated_tokens += after.tokens["generated"] - before.tokens["generated"]
    cost.vllm_requests += after.tokens["requests"] - before.tokens["requests"]


def measure_kinds(meter: Meter, sources: MixSources) -> tuple[dict[str, KindCost], dict[str, list[float]]]:
    """Every request of every kind, alone; the totals by kind, and the round trips and requests by route."""
    costs = {kind: KindCost() for kind in MIX}
    by_route: dict[str, list[float]] = {}

    async def sweep() -> None:
        async with httpx.AsyncClient(base_url=meter.gateway_url, timeout=CLIENT_TIMEOUT_SECONDS) as client:
            number = 0
            for kind in MIX:
                for topic in topics(sources, kind):
                    number += 1
                    request, key = request_of(sources, kind, topic, SERIALS + number), FRESH_KEYS[-1 - number]
                    if kind in CACHED_KINDS:  # its first time for this key: the cache keeps it
                        await send(client, key, request, time.perf_counter())
                    await meter.quiet()
                    before = meter.before()
                    outcome = await send(client, key, request, time.perf_counter())
                    if outcome.status != 200 or not outcome.complete:
                        raise RuntimeError(f"{kind} {topic!r}: {outcome.status} {outcome.detail}")
                    if kind in CACHED_KINDS and outcome.cache != "hit":
                        raise RuntimeError(f"{kind} {topic!r} sent again was not a cache hit: {outcome.cache}")
                    await asyncio.sleep(SETTLE_SECONDS)  # the answer's background writes (cache, records)
                    await meter.quiet()  # and vLLM's tail after it
                    add_difference(costs[kind], before, meter.after(), meter, by_route)

    asyncio.run(sweep())
    return costs, by_route


def redis_requests_a_second(host: str, port: int) -> dict[str, float]:
    """What the stack's Redis answers a second on this machine: GET and SET from 32 connections
    (``redis-benchmark``, which shares the machine's cores with it)."""
    command = ["redis-benchmark", "-h", host, "-p", str(port), "-t", "get,set", "-n", "200000", "-c", "32", "--csv"]
    found = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600).stdout
    rows = list(csv.reader(found.splitlines()))
    return {row[0]: float(row[1]) for row in rows[1:] if len(row) > 1}


def vllm_shape(costs: Mapping[str, KindCost]) -> RequestShape:
    """The mean request vLLM got in the sweep (each kind once per question, not weighted by the mix)."""
    requests = max(1.0, sum(cost.vllm_requests for cost in costs.values()))
    prompt = sum(cost.prompt_tokens for cost in costs.values()) / requests
    return RequestShape(prompt, sum(cost.generated_tokens for cost in costs.values()) / requests)


def generator_throughput(stack: Stack, shape: RequestShape, seconds: float) -> dict[str, dict[str, float]]:
    """vLLM directly, requests of ``shape`` with n always in flight: answers and tokens a second."""
    generator, token = str(stack.config.url(stack.config.generator_port)), stack.config.internal_token
    found = {}
    for at_once in GENERATOR_CONCURRENCY:
        answers = asyncio.run(vllm_answers_per_second(generator, token, shape, at_once, seconds))
        found[str(at_once)] = {
            "answers_per_second": answers,
            "prompt_tokens_per_second": answers * shape.prompt_tokens,
            "generated_tokens_per_second": answers * max(1, round(shape.generated_tokens)),
        }
    return found


def weighted(per_kind: Mapping[str, dict[str, Any]], mix: Mapping[str, float]) -> dict[str, Any]:
    """One request of the mix: each kind's mean cost weighted by its share."""
    total = sum(mix.values())
    unmeasured = [kind for kind in mix if not per_kind[kind]["requests"]]
    if unmeasured:
        raise ValueError(f"no request of {unmeasured} was measured: the mix's cost would leave them out")

    def mean(pick: Any) -> float:
        return sum(share / total * float(pick(per_kind[kind])) for kind, share in mix.items())

    return {
        "cpu_ms": {tier: mean(lambda cost, tier=tier: cost["cpu_ms"][tier]) for tier in TIERS},
        "redis_round_trips": mean(lambda cost: cost["redis_round_trips"]),
        "redis_commands": mean(lambda cost: cost["redis_commands"]),
        "prompt_tokens": mean(lambda cost: cost["prompt_tokens"]),
        "generated_tokens": mean(lambda cost: cost["generated_tokens"]),
    }


def needs(
    request: dict[str, Any], redis_per_second: float, rates: tuple[int, ...] = RATES
) -> dict[str, dict[str, float]]:
    """What each rate asks of each tier a second: CPU cores busy, Redis round trips and commands (and Redis
    processes at ``redis_per_second`` commands each), vLLM's tokens."""
    by_rate = {}
    for rate in rates:
        wanted = {f"{tier}_cores": rate * request["cpu_ms"][tier] / 1000 for tier in TIERS}
        wanted["redis_round_trips_per_second"] = rate * request["redis_round_trips"]
        wanted["redis_commands_per_second"] = rate * request["redis_commands"]
        wanted["redis_processes"] = wanted["redis_commands_per_second"] / redis_per_second
        wanted["prompt_tokens_per_second"] = rate * request["prompt_tokens"]
        wanted["generated_tokens_per_second"] = rate * request["generated_tokens"]
        by_rate[str(rate)] = wanted
    return by_rate


def print_costs(per_kind: Mapping[str, dict[str, Any]], request: dict[str, Any]) -> None:
    print(f"{'kind':<12}{'n':>5}" + "".join(f"{tier + ' ms':>14}" for tier in TIERS) + f"{'Redis trips':>13}"
          f"{'prompt tok':>12}{'answer tok':>12}")  # fmt: skip
    for kind, cost in [*per_kind.items(), ("the mix", {**request, "requests": 0})]:
        cpu = "".join(f"{cost['cpu_ms'][tier]:>14.2f}" for tier in TIERS)
        print(f"{kind:<12}{cost['requests']:>5}{cpu}{cost['redis_round_trips']:>13.2f}"
              f"{cost['prompt_tokens']:>12.1f}{cost['generated_tokens']:>12.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tutorbook_devstack.tier_costs", description=__doc__)
    parser.add_argument("--warm-up-seconds", type=float, default=60.0, help="one user sending the mix first")
    parser.add_argument("--idle-seconds", type=float, default=20.0, help="each tier's CPU with nothing asked")
    parser.add_argument("--generator-seconds", type=float, default=15.0, help="per vLLM concurrency level")
    parser.add_argument("--json", type=Path, default=Path("data/bench/tier-costs.json"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, stop_on_sigterm)  # a killed run still stops its stack
    with (
        tempfile.TemporaryDirectory(prefix="tutorbook-tier-costs-") as tmp,
        running_stack(capacity_stack(Path(tmp))) as stack,
    ):
        sources = prepare(stack)
        warm_up = Level(1, args.warm_up_seconds, 10**6)
        asyncio.run(run_level(stack.config.gateway_url, list(USER_KEYS), sources, warm_up, seed=99))
        meter = Meter(stack)
        meter.measure_idle(args.idle_seconds)
        costs, by_route = measure_kinds(meter, sources)
        redis_rates = redis_requests_a_second(stack.config.host, stack.config.redis_port)
        shape = vllm_shape(costs)
        throughput = generator_throughput(stack, shape, args.generator_seconds)
    per_kind = {kind: cost.per_request() for kind, cost in costs.items()}
    request = weighted(per_kind, MIX)
    print_costs(per_kind, request)
    results = {
        "mix": MIX, "per_kind": per_kind, "per_request": request,
        "needs": needs(request, min(redis_rates.values())), "redis_requests_per_second": redis_rates,
        "generator_request": {"prompt_tokens": shape.prompt_tokens, "generated_tokens": shape.generated_tokens},
        "generator_throughput": throughput,
        "idle_cores": meter.idle, "idle_redis_commands_per_second": meter.idle_commands,
        "redis_round_trips_by_route": {route: {"requests": n, "per_request": trips / n}
                                       for route, (trips, n) in sorted(by_route.items()) if n},
        "requests_measured": sum(cost.requests for cost in costs.values()),
    }  # fmt: skip
    print(f"\nwrote {write_results('tier-costs', results, args.json)}")


if __name__ == "__main__":
    main()
