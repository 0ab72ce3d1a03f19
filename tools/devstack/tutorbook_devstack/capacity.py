"""``make capacity``: the capacity model (:mod:`tutorbook_devstack.capacity_model`) measured and checked.

On a stack of its own (``make load``'s ports and mix): one user for ``--seconds-alone`` gives the service
times and the CPU per request; then the model predicts p50 and p95 at each of ``--levels`` before the
load tool measures them there. Prints prediction and measurement side by side and writes
``data/bench/capacity.json`` (docs/scaling.md quotes it)."""

import argparse
import asyncio
import dataclasses
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families

from tutorbook_config.shared import DEFAULT_BASE_MODEL_NAME as BASE_MODEL
from tutorbook_devstack.bench_report import write_results
from tutorbook_devstack.capacity_model import Kinds, Machine, Sample, machines_needed, predicted
from tutorbook_devstack.load.__main__ import SAMPLES, USER_KEYS, prepare, stack_config
from tutorbook_devstack.load.driver import CLIENT_TIMEOUT_SECONDS, Level, Outcome, UserPlan, run_level, send
from tutorbook_devstack.load.mix import MIX, PlannedRequest, request_of, topics
from tutorbook_devstack.load.report import level_figures
from tutorbook_devstack.stack import StackConfig, running_stack
from tutorbook_gateway.settings import UpstreamSettings

WARM_UP_SECONDS = 60.0
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


def gateway_sums(gateway_url: str) -> tuple[float, float]:
    """Seconds the gateway spent in the ``generate`` phase and on whole chat requests, since it started."""
    families = text_string_to_metric_families(httpx.get(f"{gateway_url}/metrics", timeout=10).text)
    sums = {"generate": 0.0, "requests": 0.0}
    for family in families:
        for sample in family.samples:
            if sample.name == "tutorbook_gateway_phase_duration_seconds_sum" and sample.labels["phase"] == "generate":
                sums["generate"] += sample.value
            elif sample.name == "tutorbook_gateway_chat_request_duration_seconds_sum":
                sums["requests"] += sample.value
    return sums["generate"], sums["requests"]


def generation_shares(gateway_url: str, sources: Any, seconds: float) -> dict[str, float]:
    """Of each kind's time alone when the cache does not answer, the share spent generating: one user
    sending only that kind, the seconds the gateway's ``generate`` phase grew by over the latencies of the
    answers that were not cache hits. A repeated question the cache has not answered yet is a RAG question;
    a kind the cache answered every time gets the others' mean share."""
    shares: dict[str, float] = {}
    for kind in (kind for kind in MIX if kind != "cache_hit"):
        generate = gateway_sums(gateway_url)[0]
        level = Level(1, seconds, 10**6)
        outcomes = asyncio.run(run_level(gateway_url, list(USER_KEYS), sources, level, 5, {kind: 1.0}))
        missed = sum(o.milliseconds / 1000 for o in answered(outcomes) if o.cache != "hit")
        if missed:
            shares[kind] = min(1.0, (gateway_sums(gateway_url)[0] - generate) / missed)
    mean = sum(shares.values()) / max(1, len(shares))
    return {**{kind: shares.get(kind, mean) for kind in MIX}, "repeat_miss": shares.get("rag", mean)}


def with_generation(sample: Sample, shares: dict[str, float]) -> Sample:
    """A cache hit generates nothing (``generating`` 0 already); any other answer generates its kind's
    share of its latency."""
    if sample.generating >= 0:
        return sample
    kind = sample.kind.split("|", 1)[0]  # a text the cache keeps, asked first, is answered as RAG or small talk
    return dataclasses.replace(sample, generating=sample.seconds * shares["rag" if kind == "cache_hit" else kind])


SPEEDUP_LEVELS = (2, 4, 8, 16, 32)
VLLM_COUNTERS = {"vllm:prompt_tokens_total": "prompt", "vllm:generation_tokens_total": "generated",
                 "vllm:request_success_total": "requests"}  # fmt: skip


def vllm_counts(generator_url: str, token: str) -> dict[str, float]:
    """vLLM's own counters: prompt tokens, generated tokens, requests finished."""
    text = httpx.get(f"{generator_url}/metrics", headers={"authorization": f"Bearer {token}"}, timeout=10).text
    counts = dict.fromkeys(VLLM_COUNTERS.values(), 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in VLLM_COUNTERS:
                counts[VLLM_COUNTERS[sample.name]] += sample.value
    return counts


@dataclass(frozen=True)
class RequestShape:
    """The mean request the mix sent vLLM with one user (its counters over the one-user run)."""

    prompt_tokens: float
    generated_tokens: float

    def body(self, model: str, passage: str, number: int) -> dict[str, Any]:
        """A request of this shape: a passage of the knowledge base (about 4 characters a token), a new
        question each, exactly the mean answer's tokens (``ignore_eos``)."""
        text = (passage * 10)[: int(self.prompt_tokens * 4)]
        messages = [{"role": "user", "content": f"{text}\n\nQuestion {number}: what does this say?"}]
        answer_tokens = max(1, round(self.generated_tokens))
        return {"model": model, "messages": messages, "max_tokens": answer_tokens, "ignore_eos": True,
                "temperature": 0.0}  # fmt: skip


async def vllm_answers_per_second(generator_url: str, token: str, shape: RequestShape, at_once: int,
                                  seconds: float) -> float:  # fmt: skip
    """Answers a second from vLLM directly with ``at_once`` requests of ``shape`` always in flight."""
    headers = {"authorization": f"Bearer {token}"}
    passages = [path.read_text() for path in sorted((SAMPLES / "knowledge_base").glob("*.md"))]
    done, deadline = 0, time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=generator_url, timeout=120, headers=headers) as client:

        async def worker(number: int) -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                body = shape.body(BASE_MODEL, passages[(number + done) % len(passages)], done)
                (await client.post("/v1/chat/completions", json=body)).raise_for_status()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(number) for number in range(at_once)))
        return done / (time.perf_counter() - started)


def vllm_speedups(generator_url: str, token: str, shape: RequestShape, seconds: float) -> dict[int, float]:
    """vLLM's throughput with n requests at once over its throughput with one."""

    def rate(at_once: int) -> float:
        return asyncio.run(vllm_answers_per_second(generator_url, token, shape, at_once, seconds))

    alone = rate(1)
    return {at_once: rate(at_once) / alone for at_once in SPEEDUP_LEVELS}


def warm_up(stack: Any, sources: Any, seconds: float) -> RequestShape:
    """One user for ``seconds`` (vLLM warms up, the cache fills); the mean request vLLM got meanwhile,
    by its own counters."""
    generator_url, token = generator_of(stack), stack.config.internal_token
    before = vllm_counts(generator_url, token)
    asyncio.run(run_level(stack.config.gateway_url, list(USER_KEYS), sources, Level(1, seconds, 10**6), seed=99))
    after = vllm_counts(generator_url, token)
    requests = max(1.0, after["requests"] - before["requests"])
    return RequestShape(*((after[name] - before[name]) / requests for name in ("prompt", "generated")))


SWEEP_SERIALS = 900_000_000  # far from the levels' (seed x 1,000,000): each of its questions is new
CACHED_KINDS = ("cache_hit", "small_talk")  # the same text again: the cache answers it the second time
# Keys of the capacity run's own: each level's users get fresh ones, so a level starts with nothing cached
# per key (the gateway's answer cache is per key), as the model assumes; the sweep has its own too.
FRESH_KEYS = tuple(f"capacity-key-{number:04d}-0123456789" for number in range(512))  # levels from the
# front, the sweep from the back


def every_request_alone(stack: Any, sources: Any) -> tuple[list[Sample], float]:
    """Every request the mix can send (each kind made from each of its questions, tickets or phrases),
    once, one after another: its latency alone, keyed by kind and topic; and the CPU-seconds the processes
    other than vLLM used meanwhile. The shares of generation are filled in later."""
    rest_pids = [service.process.pid for name, service in stack.services.items() if name != "generator"]
    planned = [request_of(sources, kind, topic, SWEEP_SERIALS + number)
               for number, (kind, topic) in enumerate((k, t) for k in MIX for t in topics(sources, k))]  # fmt: skip
    cpu, samples = stack_cpu_seconds(rest_pids), []

    async def sweep() -> None:
        async with httpx.AsyncClient(base_url=stack.config.gateway_url, timeout=CLIENT_TIMEOUT_SECONDS) as client:
            for number, request in enumerate(planned):  # a key each: nothing cached for it yet
                for seen in (False, True) if request.kind in CACHED_KINDS else (False,):
                    outcome = await send(client, FRESH_KEYS[-1 - number], request, time.perf_counter())
                    if outcome.status != 200 or not outcome.complete:  # every request needs its time
                        raise RuntimeError(f"{key_of(request, seen)}: {outcome.status} {outcome.detail}")
                    hit = outcome.cache == "hit"
                    samples.append(Sample(outcome.milliseconds / 1000, 0.0 if hit else -1.0, key_of(request, seen)))

    asyncio.run(sweep())
    return samples, stack_cpu_seconds(rest_pids) - cpu


def key_of(request: PlannedRequest, seen: bool = False) -> str:
    """What the model looks a request's time up by: its kind and topic, and for a text the cache keeps,
    whether its key has sent it before."""
    if request.kind in CACHED_KINDS:
        return f"{request.kind}|{request.topic}|{'again' if seen else 'first'}"
    return f"{request.kind}|{request.topic}"


def generator_of(stack: Any) -> str:
    return str(stack.config.url(stack.config.generator_port))


def measured_inputs(stack: Any, sources: Any, args: argparse.Namespace) -> tuple[Machine, list[Sample], dict[str, Any]]:
    # A warm-up, then vLLM's batching, before one user is measured: a fresh vLLM on CPU answers more slowly
    # in its first minutes (a run that measured one user first found it twice as slow as the 1-user level).
    shape = warm_up(stack, sources, WARM_UP_SECONDS)
    speedups = vllm_speedups(generator_of(stack), stack.config.internal_token, shape, args.speedup_seconds)
    swept, rest_cpu = every_request_alone(stack, sources)
    shares = generation_shares(stack.config.gateway_url, sources, args.seconds_per_kind)
    samples = [with_generation(sample, shares) for sample in swept]
    rest_cores = rest_cpu / max(1e-9, sum(sample.rest for sample in samples))
    slots = UpstreamSettings.model_fields["generator_max_in_flight"].default
    found = {"shares": shares, "prompt_tokens": shape.prompt_tokens, "generated_tokens": shape.generated_tokens}
    return Machine(os.cpu_count() or 1, rest_cores, slots, speedups), samples, found


def planned_kinds(sources: Any, seed: int) -> Kinds:
    """The requests each user of a level sends, in order (as ``key_of`` names them): the load tool's own
    plan for that seed."""

    def kinds(user: int) -> Iterator[str]:
        plan, sent = UserPlan(sources, seed, user), set[str]()
        while True:
            request = plan.next(0)
            yield key_of(request, seen=request.topic in sent)
            sent.add(request.topic)

    return kinds


def compared(predictions: dict[int, dict[str, float]], levels: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for users, measured in levels.items():
        model = predictions[users]
        latency = measured["latency_ms"]
        rows.append({
            "users": users,
            "predicted": model,
            "measured": {"p50_ms": latency["p50"], "p95_ms": latency["p95"],
                         "requests_per_second": measured["requests_per_second"]},
            "error": {q: model[f"{q}_ms"] / latency[q] - 1 for q in ("p50", "p95")},
            "answered": measured["answered"],
            "errors": measured["errors"],
            "refused": measured["refused_with_retry_after"],
            "by_kind_p50_ms": measured["by_kind_p50_ms"], "by_kind_p95_ms": measured["by_kind_p95_ms"],
        })  # fmt: skip
    return rows


def print_rows(inputs: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    speedups = ", ".join(f"{n}: {v:.2f}" for n, v in inputs["vllm_speedups"].items())
    print(f"\nalone: {inputs['answers']} requests, {inputs['generating_share']:.0%} of their time generating; "
          f"the rest keeps {inputs['rest_cores']:.2f} cores busy (of {inputs['cores']}); {inputs['slots']} "
          f"generation slots; vLLM's speedup with n at once: {speedups}")  # fmt: skip
    print(f"{'users':>6}{'p50 pred':>10}{'p50 meas':>10}{'error':>8}{'p95 pred':>10}{'p95 meas':>10}{'error':>8}")
    for row in rows:
        p, m, e = row["predicted"], row["measured"], row["error"]
        print(f"{row['users']:>6}{p['p50_ms']:>10.0f}{m['p50_ms']:>10.0f}{e['p50']:>+8.0%}"
              f"{p['p95_ms']:>10.0f}{m['p95_ms']:>10.0f}{e['p95']:>+8.0%}")  # fmt: skip


def described(machine: Machine, samples: list[Sample], found: dict[str, Any]) -> dict[str, Any]:
    """The model's inputs as the result file keeps them (the samples too: the prediction can be redone)."""
    return {
        "answers": len(samples), "cores": machine.cores, "rest_cores": machine.rest_cores, "slots": machine.slots,
        "vllm_speedups": machine.speedups, "generating_share_by_kind": found["shares"],
        "vllm_request": {"prompt_tokens": found["prompt_tokens"], "generated_tokens": found["generated_tokens"]},
        "generating_share": sum(s.generating for s in samples) / sum(s.seconds for s in samples),
        "samples": [[s.kind, round(s.seconds, 4), round(s.generating, 4)] for s in samples],
    }  # fmt: skip


def capacity_stack(folder: Path) -> StackConfig:
    config = stack_config(folder)
    return dataclasses.replace(config, api_keys=(*config.api_keys, *FRESH_KEYS))


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tutorbook_devstack.capacity", description=__doc__)
    parser.add_argument("--seconds-per-kind", type=float, default=20.0, help="one user, one kind: its generation")
    parser.add_argument("--levels", default="1,8,32,20", help="the concurrency levels predicted, then measured")
    parser.add_argument("--seconds", type=float, default=60.0, help="per level")
    parser.add_argument("--speedup-seconds", type=float, default=12.0, help="per vLLM throughput point")
    parser.add_argument("--json", type=Path, default=Path("data/bench/capacity.json"))
    return parser.parse_args()


def main() -> None:
    args = arguments()
    levels = [int(level) for level in args.levels.split(",") if level.strip()]
    with (
        tempfile.TemporaryDirectory(prefix="tutorbook-capacity-") as tmp,
        running_stack(capacity_stack(Path(tmp))) as stack,
    ):
        sources = prepare(stack)
        machine, samples, found = measured_inputs(stack, sources, args)
        predictions, measured = {}, {}
        for number, users in enumerate(levels):  # each predicted before it is measured, on keys of its own
            kinds = planned_kinds(sources, seed=users)
            predictions[users] = predicted(machine, samples, users, args.seconds, kinds=kinds)
            first = sum(levels[:number])
            keys = list(FRESH_KEYS[first : first + users])
            level = Level(users, args.seconds, 5000)
            outcomes = asyncio.run(run_level(stack.config.gateway_url, keys, sources, level, seed=users))
            measured[users] = level_figures(outcomes)
    rows = compared(predictions, measured)
    inputs = described(machine, samples, found)
    print_rows(inputs, rows)
    best = max(row["measured"]["requests_per_second"] for row in rows)  # the machine's measured peak
    sizing = {"answers_per_second": best, "machines": {str(rate): machines_needed(rate, best) for rate in RATES}}
    results = {"inputs": inputs, "levels": rows, "machines_like_this_one": sizing}
    print(f"\nwrote {write_results('capacity', results, args.json)}")


if __name__ == "__main__":
    main()
