"""``make capacity``: the capacity model (:mod:`tutorbook_devstack.capacity_model`) measured and checked.

On a stack of its own (``make load``'s ports and mix): one user for ``--seconds-alone`` gives the service
times and the CPU per request; then the model predicts p50 and p95 at each of ``--levels`` before the
load tool measures them there. Prints prediction and measurement side by side and writes
``data/bench/capacity.json`` (docs/scaling.md quotes it)."""

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from tutorbook_config.shared import DEFAULT_BASE_MODEL_NAME as BASE_MODEL
from tutorbook_devstack.bench_report import write_results
from tutorbook_devstack.capacity_model import ServiceTimes, machines_needed, predicted
from tutorbook_devstack.load.__main__ import USER_KEYS, prepare, stack_config
from tutorbook_devstack.load.driver import Level, Outcome, run_level
from tutorbook_devstack.load.report import level_figures
from tutorbook_devstack.stack import running_stack

WARM_UP_SECONDS = 15.0
RATES = (100, 1000, 10000)  # requests a second a deployment may need


def stack_cpu_seconds(pids: list[int]) -> float:
    """CPU time (user and system) of these processes and every process under them (vLLM's engine)."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for process in [root, *root.children(recursive=True)]:
                times = process.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


def answered(outcomes: list[Outcome]) -> list[Outcome]:
    return [outcome for outcome in outcomes if outcome.status == 200 and outcome.complete]


SPEEDUP_LEVELS = (2, 4, 8, 16, 32)
ANSWER_TOKENS = 48  # the mix's answers (max_tokens of its RAG questions and streams)


async def vllm_answers_per_second(generator_url: str, token: str, model: str, at_once: int, seconds: float) -> float:
    """Answers a second from vLLM directly with ``at_once`` requests always in flight, each exactly
    ``ANSWER_TOKENS`` tokens long (``ignore_eos``), a new question each."""
    body = {"model": model, "max_tokens": ANSWER_TOKENS, "ignore_eos": True, "temperature": 0.0}
    headers = {"authorization": f"Bearer {token}"}
    done, deadline = 0, time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=generator_url, timeout=120, headers=headers) as client:

        async def worker(number: int) -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                messages = [{"role": "user", "content": f"Tell me about product number {number}-{done}."}]
                answer = await client.post("/v1/chat/completions", json={**body, "messages": messages})
                answer.raise_for_status()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(number) for number in range(at_once)))
        return done / (time.perf_counter() - started)


def vllm_speedups(generator_url: str, token: str, model: str, seconds: float) -> dict[int, float]:
    """vLLM's throughput with n requests at once over its throughput with one."""

    def rate(at_once: int) -> float:
        return asyncio.run(vllm_answers_per_second(generator_url, token, model, at_once, seconds))

    alone = rate(1)
    return {at_once: rate(at_once) / alone for at_once in SPEEDUP_LEVELS}


def one_user(gateway_url: str, sources: Any, pids: list[int], seconds: float) -> tuple[list[float], float]:
    asyncio.run(run_level(gateway_url, list(USER_KEYS), sources, Level(1, WARM_UP_SECONDS, 10**6), seed=99))
    cpu, started = stack_cpu_seconds(pids), time.perf_counter()
    outcomes = asyncio.run(run_level(gateway_url, list(USER_KEYS), sources, Level(1, seconds, 10**6), seed=0))
    cores_busy = (stack_cpu_seconds(pids) - cpu) / (time.perf_counter() - started)
    return [o.milliseconds / 1000 for o in answered(outcomes)], cores_busy


def compared(times: ServiceTimes, levels: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for users, measured in levels.items():
        model = predicted(times, users)
        latency = measured["latency_ms"]
        rows.append({
            "users": users,
            "predicted": model,
            "measured": {"p50_ms": latency["p50"], "p95_ms": latency["p95"],
                         "requests_per_second": measured["requests_per_second"]},
            "error": {q: model[f"{q}_ms"] / latency[q] - 1 for q in ("p50", "p95")},
            "answered": measured["answered"],
            "errors": measured["errors"],
        })  # fmt: skip
    return rows


def print_rows(times: ServiceTimes, rows: list[dict[str, Any]]) -> None:
    print(f"\none user: {len(times.seconds)} answers; {times.cores_per_request:.2f} cores busy per request in flight "
          f"(of {times.cores}); {times.cpu_seconds_per_request:.2f} CPU-seconds per request; vLLM's speedup "
          f"with n at once: {', '.join(f'{n}: {v:.2f}' for n, v in times.speedups.items())}")  # fmt: skip
    print(f"{'users':>6}{'p50 pred':>10}{'p50 meas':>10}{'error':>8}{'p95 pred':>10}{'p95 meas':>10}{'error':>8}")
    for row in rows:
        p, m, e = row["predicted"], row["measured"], row["error"]
        print(f"{row['users']:>6}{p['p50_ms']:>10.0f}{m['p50_ms']:>10.0f}{e['p50']:>+8.0%}"
              f"{p['p95_ms']:>10.0f}{m['p95_ms']:>10.0f}{e['p95']:>+8.0%}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tutorbook_devstack.capacity", description=__doc__)
    parser.add_argument("--seconds-alone", type=float, default=120.0, help="one user, for the service times")
    parser.add_argument("--levels", default="8,32", help="the concurrency levels predicted, then measured")
    parser.add_argument("--seconds", type=float, default=60.0, help="per level")
    parser.add_argument("--speedup-seconds", type=float, default=12.0, help="per vLLM throughput point")
    parser.add_argument("--json", type=Path, default=Path("data/bench/capacity.json"))
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",") if level.strip()]
    with (
        tempfile.TemporaryDirectory(prefix="tutorbook-capacity-") as tmp,
        running_stack(stack_config(Path(tmp))) as stack,
    ):
        sources = prepare(stack)
        gateway_url = stack.config.gateway_url
        pids = [service.process.pid for service in stack.services.values()]
        seconds, cores_busy = one_user(gateway_url, sources, pids, args.seconds_alone)
        generator = stack.config.url(stack.config.generator_port)
        speedups = vllm_speedups(generator, stack.config.internal_token, BASE_MODEL, args.speedup_seconds)
        times = ServiceTimes(seconds, cores_busy, os.cpu_count() or 1, speedups)
        measured = {}
        for users in levels:
            outcomes = asyncio.run(run_level(gateway_url, list(USER_KEYS), sources, Level(users, args.seconds, 5000),
                                             seed=users))  # fmt: skip
            measured[users] = level_figures(outcomes)
    rows = compared(times, measured)
    print_rows(times, rows)
    best = max(row["measured"]["requests_per_second"] for row in rows)  # the machine's measured peak
    sizing = {"answers_per_second": best, "machines": {str(rate): machines_needed(rate, best) for rate in RATES}}
    results = {
        "service_times": {"answers": len(times.seconds), "cores_per_request": times.cores_per_request,
                          "vllm_speedups": times.speedups, "cpu_seconds_per_request": times.cpu_seconds_per_request,
                          "cores": times.cores},
        "levels": rows,
        "machines_like_this_one": sizing,
    }  # fmt: skip
    print(f"\nwrote {write_results('capacity', results, args.json)}")


if __name__ == "__main__":
    main()
