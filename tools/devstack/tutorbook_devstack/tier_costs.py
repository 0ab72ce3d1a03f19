"""``make tier-costs``: what one request of ``make load``'s mix costs each tier, and what each tier needs at
100, 1,000 and 10,000 requests a second (docs/scaling.md quotes the result file).

On a stack of its own (``make load``'s ports and mix), after a warm-up, every request the mix can send is
sent once, alone, on a key of its own (a text the cache keeps is sent twice, and measured the second time:
in the mix it is the repeated text). Around each measured request: the CPU time of each service's processes
(vLLM's engine workers with the generator), the gateway's Redis round trips (its own
``tutorbook_gateway_redis_round_trips`` histogram, by route) and vLLM's token counters. Each kind's mean,
weighted by the mix, is one request's cost; a rate times that cost is what the tier must do a second.

One request at a time is the cost without batching: vLLM batches under load (``make capacity`` measures
by how much on this machine) and the other tiers' per-request CPU changes little with concurrency.
"""

import argparse
import asyncio
import csv
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tutorbook_devstack.bench_report import write_results
from tutorbook_devstack.capacity import CACHED_KINDS, FRESH_KEYS, capacity_stack, stack_cpu_seconds, vllm_counts
from tutorbook_devstack.load.__main__ import USER_KEYS, prepare
from tutorbook_devstack.load.driver import CLIENT_TIMEOUT_SECONDS, Level, run_level, send
from tutorbook_devstack.load.mix import MIX, MixSources, request_of, topics
from tutorbook_devstack.stack import Stack, running_stack

RATES = (100, 1000, 10000)
TIERS = ("gateway", "retriever", "redis", "generator")
ROUND_TRIPS = "tutorbook_gateway_redis_round_trips"
SERIALS = 800_000_000  # far from the load tool's and the capacity run's: every question is new


@dataclass
class KindCost:
    """Totals over one kind's measured requests."""

    requests: int = 0
    cpu_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TIERS, 0.0))
    round_trips: float = 0.0
    prompt_tokens: float = 0.0
    generated_tokens: float = 0.0

    def per_request(self) -> dict[str, Any]:
        n = max(1, self.requests)
        return {
            "requests": self.requests,
            "cpu_ms": {tier: seconds * 1000 / n for tier, seconds in self.cpu_seconds.items()},
            "redis_round_trips": self.round_trips / n,
            "prompt_tokens": self.prompt_tokens / n,
            "generated_tokens": self.generated_tokens / n,
        }


@dataclass(frozen=True)
class Snapshot:
    cpu: dict[str, float]
    round_trips: dict[str, tuple[float, float]]  # by route: round trips, requests
    tokens: dict[str, float]


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


def snapshot(stack: Stack) -> Snapshot:
    pids = {tier: [stack.services[tier].process.pid] for tier in TIERS}
    generator = str(stack.config.url(stack.config.generator_port))
    return Snapshot(
        {tier: stack_cpu_seconds(pids[tier]) for tier in TIERS},
        round_trips_by_route(stack.config.gateway_url),
        vllm_counts(generator, stack.config.internal_token),
    )


def add_difference(cost: KindCost, before: Snapshot, after: Snapshot, by_route: dict[str, list[float]]) -> None:
    cost.requests += 1
    for tier in TIERS:
        cost.cpu_seconds[tier] += after.cpu[tier] - before.cpu[tier]
    for route, (trips, requests) in after.round_trips.items():
        trips_before, requests_before = before.round_trips.get(route, (0.0, 0.0))
        totals = by_route.setdefault(route, [0.0, 0.0])
        totals[0] += trips - trips_before
        totals[1] += requests - requests_before
        cost.round_trips += trips - trips_before
    cost.prompt_tokens += after.tokens["prompt"] - before.tokens["prompt"]
    cost.generated_tokens += after.tokens["generated"] - before.tokens["generated"]


def measure_kinds(stack: Stack, sources: MixSources) -> tuple[dict[str, KindCost], dict[str, list[float]]]:
    """Every request of every kind, alone; the totals by kind, and the round trips and requests by route."""
    costs = {kind: KindCost() for kind in MIX}
    by_route: dict[str, list[float]] = {}

    async def sweep() -> None:
        async with httpx.AsyncClient(base_url=stack.config.gateway_url, timeout=CLIENT_TIMEOUT_SECONDS) as client:
            number = 0
            for kind in MIX:
                for topic in topics(sources, kind):
                    number += 1
                    request, key = request_of(sources, kind, topic, SERIALS + number), FRESH_KEYS[-1 - number]
                    if kind in CACHED_KINDS:  # its first time for this key: the cache keeps it
                        await send(client, key, request, time.perf_counter())
                    before = snapshot(stack)
                    outcome = await send(client, key, request, time.perf_counter())
                    if outcome.status != 200 or not outcome.complete:
                        raise RuntimeError(f"{kind} {topic!r}: {outcome.status} {outcome.detail}")
                    add_difference(costs[kind], before, snapshot(stack), by_route)

    asyncio.run(sweep())
    return costs, by_route


def redis_requests_a_second(host: str, port: int) -> dict[str, float]:
    """What the stack's Redis answers a second on this machine: GET and SET from 32 connections
    (``redis-benchmark``, which shares the machine's cores with it)."""
    command = ["redis-benchmark", "-h", host, "-p", str(port), "-t", "get,set", "-n", "200000", "-c", "32", "--csv"]
    found = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600).stdout
    rows = list(csv.reader(found.splitlines()))
    return {row[0]: float(row[1]) for row in rows[1:] if len(row) > 1}


def weighted(per_kind: Mapping[str, dict[str, Any]], mix: Mapping[str, float]) -> dict[str, Any]:
    """One request of the mix: each kind's mean cost weighted by its share."""
    total = sum(mix.values())

    def mean(pick: Any) -> float:
        return sum(share / total * float(pick(per_kind[kind])) for kind, share in mix.items())

    return {
        "cpu_ms": {tier: mean(lambda cost, tier=tier: cost["cpu_ms"][tier]) for tier in TIERS},
        "redis_round_trips": mean(lambda cost: cost["redis_round_trips"]),
        "prompt_tokens": mean(lambda cost: cost["prompt_tokens"]),
        "generated_tokens": mean(lambda cost: cost["generated_tokens"]),
    }


def needs(
    request: dict[str, Any], redis_per_second: float, rates: tuple[int, ...] = RATES
) -> dict[str, dict[str, float]]:
    """What each rate asks of each tier a second: CPU cores busy, Redis round trips (and Redis processes at
    ``redis_per_second`` each), vLLM's tokens."""
    by_rate = {}
    for rate in rates:
        wanted = {f"{tier}_cores": rate * request["cpu_ms"][tier] / 1000 for tier in TIERS}
        wanted["redis_round_trips_per_second"] = rate * request["redis_round_trips"]
        wanted["redis_processes"] = wanted["redis_round_trips_per_second"] / redis_per_second
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
    parser.add_argument("--json", type=Path, default=Path("data/bench/tier-costs.json"))
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="tutorbook-tier-costs-") as tmp,
        running_stack(capacity_stack(Path(tmp))) as stack,
    ):
        sources = prepare(stack)
        warm_up = Level(1, args.warm_up_seconds, 10**6)
        asyncio.run(run_level(stack.config.gateway_url, list(USER_KEYS), sources, warm_up, seed=99))
        costs, by_route = measure_kinds(stack, sources)
        redis_rates = redis_requests_a_second(stack.config.host, stack.config.redis_port)
    per_kind = {kind: cost.per_request() for kind, cost in costs.items()}
    request = weighted(per_kind, MIX)
    print_costs(per_kind, request)
    results = {
        "mix": MIX, "per_kind": per_kind, "per_request": request,
        "needs": needs(request, min(redis_rates.values())), "redis_requests_per_second": redis_rates,
        "redis_round_trips_by_route": {route: {"requests": n, "per_request": trips / n}
                                       for route, (trips, n) in sorted(by_route.items()) if n},
        "requests_measured": sum(cost.requests for cost in costs.values()),
    }  # fmt: skip
    print(f"\nwrote {write_results('tier-costs', results, args.json)}")


if __name__ == "__main__":
    main()
