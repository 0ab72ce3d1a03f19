"""``tutorbook-bench-gateway``: what the gateway adds to a request, measured side by side in one run.

The same chat request (the base model named, so no retrieval; one generated token, temperature 0) is sent
to vLLM directly and through the gateway (response cache off; rate limiting on, as in production),
interleaved so both see the same machine state; and, for comparison, through a bare Python proxy (what
any extra HTTP hop costs on this machine). Prints p50, p95 and p99 of each, the added milliseconds and
the ratio, and writes them as JSON (``data/bench/gateway.json``). Also times the router's decision
function alone. Starts the stack itself (free ports, temporary data; Redis state as in production, or
``--memory-state``) unless --gateway-url and --generator-url are given.
"""

import argparse
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

import httpx

from tutorbook_devstack.__main__ import stop_on_sigterm
from tutorbook_devstack.bench_report import percentile, summary, write_results
from tutorbook_devstack.processes import start_service, wait_ready
from tutorbook_devstack.stack import StackConfig, running_stack
from tutorbook_gateway.routing import (
    OFF_TOPIC,
    SMALL_TALK,
    AdapterState,
    RetrievalSignals,
    RouteRequest,
    RouteSignals,
    decide,
)
from tutorbook_gateway.settings import GatewaySettings
from tutorbook_gateway.wiring import route_policy
from tutorbook_service.internal_auth import bearer_header

BENCH_KEY = "bench-key-0123456789"
ADMIN_KEY = "bench-admin-0123456789"
BASE_MODEL = "smollm2-135m-instruct"
BARE_PROXY_PORT = 18003
WARM_UP = 30


def router_decision_ms(repeats: int) -> tuple[float, float]:
    """Every signal present: four passages with both scores, two adapters, small talk and off-topic matches."""
    policy = route_policy(GatewaySettings())
    retrieval = RetrievalSignals(
        scores=(0.71, 0.52, 0.4, 0.2), topics=("a", "b", "c", "d"), lexical_scores=(9.1, None, 4.2, 1.0)
    )
    adapters = {"triage": AdapterState("triage", 3, "classifier"), "style": AdapterState("style", 1, loaded=False)}
    matches = {"triage": 0.62, "style": 0.8, SMALL_TALK: 0.2, OFF_TOPIC: 0.25}
    signals = RouteSignals(retrieval=retrieval, route_matches=matches, adapters=adapters)
    request = RouteRequest(model="auto")
    timings = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        decide(request, signals, policy)
        timings.append((time.perf_counter_ns() - started) / 1e6)
    return summary(timings)["p50"], percentile(timings, 0.95)


def key_check_us(repeats: int, runtime_keys: int = 1000) -> dict[str, dict[str, float]]:
    """A request's key check in the gateway process, microseconds: the check before runtime keys (every
    configured key compared in constant time, its code kept here as the reference), the same check of a
    configured (bootstrap) key now, and a runtime key among ``runtime_keys`` others. Interleaved."""
    import asyncio
    import hmac

    import msgspec

    from tutorbook_gateway.access.directory import KeyDirectory, bootstrap_callers
    from tutorbook_gateway.access.model import KeyRecord, Scope, SecretHash, new_key_id, new_secret, secret_hash
    from tutorbook_gateway.access.records import MemoryRecords

    def before(key: str) -> bool:  # the KeyRing of commit 87b58bf^, as it checked a key
        admins = any([hmac.compare_digest(key.encode(), known.encode()) for known in (ADMIN_KEY,)])
        users = any([hmac.compare_digest(key.encode(), known.encode()) for known in (BENCH_KEY,)])
        return admins or users

    records, secret = MemoryRecords(), ""
    for _ in range(runtime_keys):
        key_id = new_key_id()
        secret = new_secret(key_id)
        record = KeyRecord(key_id, "bench", "default", [Scope.CHAT], 0.0, [SecretHash(secret_hash(secret))])
        asyncio.run(records.put("keys", key_id, msgspec.json.encode(record)))
    directory = KeyDirectory(records, bootstrap_callers([BENCH_KEY], [ADMIN_KEY]))
    asyncio.run(directory.refresh())
    checks: dict[str, Callable[[], object]] = {
        "before": lambda: before(BENCH_KEY),
        "bootstrap_key": lambda: directory.identify(BENCH_KEY),
        "runtime_key": lambda: directory.identify(secret),
    }
    timings: dict[str, list[float]] = {name: [] for name in checks}
    for _ in range(repeats):
        for name, check in checks.items():
            started = time.perf_counter_ns()
            check()
            timings[name].append((time.perf_counter_ns() - started) / 1000)
    figures = {name: summary(values) for name, values in timings.items()}
    print("key check (us, p50):", ", ".join(f"{name} {row['p50']:.2f}" for name, row in figures.items()))
    return figures


def tracing_hooks_us(repeats: int) -> dict[str, dict[str, float]]:
    """What a RAG request's tracing hooks cost in the gateway process, microseconds: its 8 step spans and
    the trace context of its 3 upstream calls, untraced (``TUTORBOOK_OTLP_ENDPOINT`` unset, the default)
    and traced (spans made and ended; exporting them is a batch thread's work). Interleaved."""
    from opentelemetry.sdk.trace import TracerProvider

    from tutorbook_service.request_context import trace_headers, traced, tracer_var

    def request_hooks() -> None:
        for step in ("validate", "state_read", "plan", "retrieve", "route", "generate", "claim_check", "state_write"):
            with traced(step):
                pass
        for _ in range(3):
            trace_headers()

    tracer = TracerProvider().get_tracer("bench")
    timings: dict[str, list[float]] = {"untraced": [], "traced": []}
    for _ in range(repeats):
        for name, current in (("untraced", None), ("traced", tracer)):
            token = tracer_var.set(current)
            started = time.perf_counter_ns()
            request_hooks()
            timings[name].append((time.perf_counter_ns() - started) / 1000)
            tracer_var.reset(token)
    figures = {name: summary(values) for name, values in timings.items()}
    print("tracing hooks per request (us, p50):", ", ".join(f"{n} {row['p50']:.2f}" for n, row in figures.items()))
    return figures


def time_post(client: httpx.Client, url: str, body: dict[str, object], headers: dict[str, str]) -> float:
    started = time.perf_counter()
    response = client.post(url, json=body, headers=headers)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed * 1000


@dataclass(frozen=True)
class Path:
    name: str
    url: str
    headers: dict[str, str]


def measure(paths: list[Path], requests: int, warm_up: int = WARM_UP) -> dict[str, list[float]]:
    """Each round sends the same request down every path, in an order that rotates from round to round, so
    that no path always follows another."""
    body = {
        "model": BASE_MODEL,
        "messages": [{"role": "user", "content": "Say OK."}],
        "max_tokens": 1,
        "temperature": 0,
    }
    timings: dict[str, list[float]] = {path.name: [] for path in paths}
    with httpx.Client(timeout=60) as client:
        for _ in range(warm_up):  # warm up every path and vLLM's prefix cache
            for path in paths:
                time_post(client, f"{path.url}/v1/chat/completions", body, path.headers)
        for round_number in range(requests):
            shift = round_number % len(paths)
            for path in paths[shift:] + paths[:shift]:
                timings[path.name].append(time_post(client, f"{path.url}/v1/chat/completions", body, path.headers))
    return timings


@contextmanager
def bare_proxy(generator_url: str, log_dir: FilePath) -> Iterator[str]:
    """The bare hop (:mod:`tutorbook_devstack.bare_proxy`) in front of the generator, for comparison."""
    command = [sys.executable, "-m", "tutorbook_devstack.bare_proxy", generator_url, str(BARE_PROXY_PORT)]
    service = start_service("bare-proxy", command, dict(os.environ), log_dir)
    try:
        # the generator's own probe, forwarded: vLLM's /health wants the internal token, which this has not
        wait_ready(service, f"http://127.0.0.1:{BARE_PROXY_PORT}/healthz", 60)
        yield f"http://127.0.0.1:{BARE_PROXY_PORT}"
    finally:
        service.stop()


@dataclass(frozen=True)
class Target:
    """A running stack to measure: its gateway and generator, and the credentials for each."""

    gateway_url: str
    generator_url: str
    key: str
    internal_token: str


def measure_paths(
    target: Target, requests: int, warm_up: int, log_dir: FilePath, runtime_key: str | None = None
) -> dict[str, Any]:
    """``runtime_key``: a key made through the admin API, measured beside the configured one."""
    with bare_proxy(target.generator_url, log_dir) as proxy_url:
        paths = [
            Path("direct", target.generator_url, bearer_header(target.internal_token)),
            Path("bare_proxy", proxy_url, bearer_header(target.internal_token)),
            Path("gateway", target.gateway_url, bearer_header(target.key)),
        ]
        if runtime_key:
            paths.append(Path("gateway_runtime_key", target.gateway_url, bearer_header(runtime_key)))
        return report(measure(paths, requests, warm_up))


def made_key(gateway_url: str) -> str:
    """A runtime key, made through the admin API as an application's would be."""
    body = {"name": "bench", "scopes": ["chat"]}
    response = httpx.post(f"{gateway_url}/v1/admin/keys", json=body, headers=bearer_header(ADMIN_KEY), timeout=30)
    response.raise_for_status()
    return str(response.json()["key"])


def main() -> None:
    parser = argparse.ArgumentParser(prog="tutorbook-bench-gateway", description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warm-up", type=int, default=WARM_UP, help="untimed rounds first")
    parser.add_argument("--gateway-url")
    parser.add_argument("--generator-url")
    parser.add_argument("--key", default=BENCH_KEY, help="API key of the running gateway")
    parser.add_argument(
        "--internal-token",
        default=os.environ.get("TUTORBOOK_INTERNAL_TOKEN", ""),
        help="the running stack's internal token, for calling vLLM directly (default $TUTORBOOK_INTERNAL_TOKEN)",
    )
    parser.add_argument("--memory-state", action="store_true", help="no Redis: the gateway's in-memory store")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra gateway setting")
    parser.add_argument("--json", type=FilePath, help="where to write the figures (default data/bench/gateway.json)")
    args = parser.parse_args()
    p50, p95 = router_decision_ms(10_000)
    print(f"router decision (no embedding): p50 {p50 * 1000:.1f} us, p95 {p95 * 1000:.1f} us")
    router = {"router_decision_us": {"p50": p50 * 1000, "p95": p95 * 1000}, "key_check_us": key_check_us(100_000),
              "tracing_hooks_us": tracing_hooks_us(20_000)}  # fmt: skip
    if args.gateway_url and args.generator_url:
        target = Target(args.gateway_url, args.generator_url, args.key, args.internal_token)
        with tempfile.TemporaryDirectory(prefix="tutorbook-bench-") as logs:
            figures = measure_paths(target, args.requests, args.warm_up, FilePath(logs))
    else:
        figures = measure_own_stack(args)
    print(f"figures: {write_results('gateway', {**router, **figures}, args.json)}")


def measure_own_stack(args: argparse.Namespace) -> dict[str, Any]:
    """Start a stack of our own (response cache off: every request must reach vLLM) and measure it."""
    extra = dict(item.split("=", 1) for item in args.env)
    if args.memory_state:
        extra["TUTORBOOK_REDIS_URL"] = ""
    with tempfile.TemporaryDirectory(prefix="tutorbook-bench-") as tmp:
        config = StackConfig(
            data_dir=FilePath(tmp), api_keys=(BENCH_KEY,), admin_keys=(ADMIN_KEY,),
            model_cache_dir=FilePath("data/models").resolve(), gateway_port=18000, retriever_port=18001,
            generator_port=18002, redis_port=18379, redis_persistent=False,
            extra_env={"TUTORBOOK_GATEWAY_CACHE__ENABLED": "false", **extra},
        )  # fmt: skip
        signal.signal(signal.SIGTERM, stop_on_sigterm)  # a killed benchmark still stops its stack
        print("starting the stack ...", flush=True)
        with running_stack(config) as stack:
            target = Target(config.gateway_url, stack.config.url(config.generator_port), BENCH_KEY,
                            config.internal_token)  # fmt: skip
            figures = measure_paths(
                target, args.requests, args.warm_up, FilePath(tmp) / "logs", made_key(config.gateway_url)
            )
    return {"state": "memory" if args.memory_state else "redis", **figures}


def report(timings: dict[str, list[float]]) -> dict[str, Any]:
    direct, bare, gateway = (summary(timings[name]) for name in ("direct", "bare_proxy", "gateway"))
    hop = {name: bare[name] - direct[name] for name in ("p50", "p95", "p99")}
    added = {name: gateway[name] - direct[name] for name in ("p50", "p95", "p99")}
    own = {name: gateway[name] - bare[name] for name in ("p50", "p95", "p99")}
    print(f"\n{int(direct['n'])} requests each way, interleaved (ms)   p50      p95      p99")
    rows = (
        ("vLLM directly", direct),
        ("a bare Python proxy", bare),
        ("through the gateway", gateway),
        ("added by a bare hop", hop),
        ("added by the gateway", added),
        ("the gateway beyond a bare hop", own),
    )
    for label, row in rows:
        print(f"{label:<34}{row['p50']:>9.2f}{row['p95']:>9.2f}{row['p99']:>9.2f}")
    ratio = gateway["p50"] / direct["p50"]
    print(f"ratio gateway / direct at p50: {ratio:.3f}")
    runtime = runtime_key_figures(timings, gateway)
    return {
        **runtime,
        "direct_ms": direct,
        "bare_proxy_ms": bare,
        "gateway_ms": gateway,
        "added_by_bare_hop_ms": hop,
        "added_ms": added,
        "gateway_beyond_bare_hop_ms": own,
        "ratio_p50": ratio,
    }


def runtime_key_figures(timings: dict[str, list[float]], gateway: dict[str, float]) -> dict[str, Any]:
    """The same request with a runtime key: what it adds over the configured key, in microseconds."""
    if "gateway_runtime_key" not in timings:
        return {}
    runtime = summary(timings["gateway_runtime_key"])
    added = {name: (runtime[name] - gateway[name]) * 1000 for name in ("p50", "p95", "p99")}
    print(f"a runtime key instead of a configured one: {added['p50']:+.0f} us at p50")
    return {"gateway_runtime_key_ms": runtime, "runtime_key_added_us": added}


if __name__ == "__main__":
    main()
