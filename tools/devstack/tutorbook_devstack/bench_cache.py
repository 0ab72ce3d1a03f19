"""``tutorbook-bench-cache``: a response-cache hit against a miss, end to end through the gateway.

Starts the stack (Redis included, free ports, temporary data), loads the sample knowledge base (or, with
``--gateway-url``, uses a running stack that has it), then sends
interleaved: the same deterministic RAG question again and again (hits, after the first) and a different
sample question each time (misses: retrieval, routing and generation). Prints p50, p95 and p99 of each
and the ratio, and what the state store adds to a miss (the gateway's own ``state_read``/``state_write``
phases: rate limit, session, cache lookup with the index-version check; and the writes before the
response); writes the figures as JSON (``data/bench/cache.json``).
"""

import argparse
import json
import re
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tutorbook_devstack.__main__ import stop_on_sigterm
from tutorbook_devstack.bench_report import summary, write_results
from tutorbook_devstack.stack import StackConfig, ingest_folder, running_stack

KEY = "bench-key-0123456789"
ADMIN = "bench-admin-0123456789"
WARM_UP_HITS = 30
SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def timed(client: httpx.Client, url: str, question: str, max_tokens: int) -> tuple[float, str]:
    body = {"model": "auto", "messages": [{"role": "user", "content": question}], "max_tokens": max_tokens}
    started = time.perf_counter()
    response = client.post(url, json=body)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed, response.headers.get("x-tutorbook-cache", "")


def phase_means_ms(metrics_text: str) -> dict[str, float]:
    sums = dict(
        re.findall(r'^tutorbook_gateway_phase_duration_seconds_sum\{phase="(\w+)"\} (\S+)$', metrics_text, re.M)
    )
    counts = dict(
        re.findall(r'^tutorbook_gateway_phase_duration_seconds_count\{phase="(\w+)"\} (\S+)$', metrics_text, re.M)
    )
    return {phase: float(sums[phase]) / float(counts[phase]) * 1000 for phase in sums if float(counts[phase])}


@dataclass(frozen=True)
class Run:
    misses: int
    hits_per_miss: int
    max_tokens: int
    warm_up: int = WARM_UP_HITS


def measure(gateway_url: str, key: str, run: Run) -> dict[str, list[float]]:
    """Interleaved: a new question (a miss), then the repeated one (hits)."""
    questions = [json.loads(line)["question"] for line in (SAMPLES / "questions.jsonl").read_text().splitlines()]
    url = f"{gateway_url}/v1/chat/completions"
    timings: dict[str, list[float]] = {"hit": [], "miss": []}
    misses, hits_per_miss, max_tokens = run.misses, run.hits_per_miss, run.max_tokens
    tag = time.strftime("%H%M%S")  # new to a running stack's cache, run after run
    with httpx.Client(timeout=120, headers={"Authorization": f"Bearer {key}"}) as client:
        repeated = "How long is the warranty on Brightleaf products?"
        timed(client, url, repeated, max_tokens)  # the miss that fills the cache
        for _ in range(run.warm_up):
            timed(client, url, repeated, max_tokens)
        for round_number in range(misses):
            variant = f"{tag} {round_number // len(questions)}"
            question = questions[round_number % len(questions)] + f" (variant {variant})"
            elapsed, state = timed(client, url, question, max_tokens)
            assert state == "miss", state
            timings["miss"].append(elapsed)
            for _ in range(hits_per_miss):
                elapsed, state = timed(client, url, repeated, max_tokens)
                assert state == "hit", state
                timings["hit"].append(elapsed)
    return timings


def report(timings: dict[str, list[float]], phases: dict[str, float]) -> dict[str, Any]:
    hit, miss = summary(timings["hit"]), summary(timings["miss"])
    print(f"\n{'end to end through the gateway (ms)':<38}{'n':>6}{'p50':>9}{'p95':>9}{'p99':>9}")
    for label, row in (("cache hit", hit), ("cache miss (retrieve, route, generate)", miss)):
        print(f"{label:<38}{int(row['n']):>6}{row['p50']:>9.2f}{row['p95']:>9.2f}{row['p99']:>9.2f}")
    ratio = miss["p50"] / hit["p50"]
    print(f"a hit is {ratio:.0f}x faster than a miss at p50")
    print("\nmean per request, from the gateway's phase metrics (ms):")
    for phase in ("state_read", "state_write", "retrieve", "route", "generate"):
        if phase in phases:
            print(f"  {phase:<12}{phases[phase]:>8.3f}")
    return {"hit_ms": hit, "miss_ms": miss, "miss_over_hit_p50": ratio, "phase_mean_ms": phases}


def main() -> None:
    parser = argparse.ArgumentParser(prog="tutorbook-bench-cache", description=__doc__)
    parser.add_argument("--misses", type=int, default=40)
    parser.add_argument("--hits-per-miss", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--warm-up", type=int, default=WARM_UP_HITS, help="untimed hits first")
    parser.add_argument("--gateway-url", help="a running stack with the sample knowledge base (default: start one)")
    parser.add_argument("--key", default=KEY, help="API key of the running gateway")
    parser.add_argument("--json", type=Path, help="where to write the figures (default data/bench/cache.json)")
    args = parser.parse_args()
    run = Run(args.misses, args.hits_per_miss, args.max_tokens, args.warm_up)
    figures = measure_stack(args.gateway_url, args.key, run) if args.gateway_url else measure_own_stack(run)
    print(f"figures: {write_results('cache', figures, args.json)}")


def measure_stack(gateway_url: str, key: str, run: Run) -> dict[str, Any]:
    timings = measure(gateway_url, key, run)
    with httpx.Client() as client:
        phases = phase_means_ms(client.get(f"{gateway_url}/metrics").text)
    return report(timings, phases)


def measure_own_stack(run: Run) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tutorbook-bench-") as tmp:
        config = StackConfig(
            data_dir=Path(tmp), api_keys=(KEY,), admin_keys=(ADMIN,),
            model_cache_dir=Path("data/models").resolve(), gateway_port=18100, retriever_port=18101,
            generator_port=18102, redis_port=18479, redis_persistent=False,
            # Rate limiting stays on (as in production), with room for the whole run.
            extra_env={"TUTORBOOK_GATEWAY_LIMITS__REQUESTS_PER_MINUTE": "100000"},
        )  # fmt: skip
        signal.signal(signal.SIGTERM, stop_on_sigterm)  # a killed benchmark still stops its stack
        print("starting the stack ...", flush=True)
        with running_stack(config) as stack:
            ingest_folder(stack.config.gateway_url, ADMIN, SAMPLES / "knowledge_base")
            return measure_stack(stack.config.gateway_url, KEY, run)


if __name__ == "__main__":
    main()
