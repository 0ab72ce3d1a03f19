"""The figure blocks of docs/scaling.md: the capacity model's check, and what each tier costs."""

import math
from collections.abc import Callable
from typing import Any

from tutorbook_devstack.bench_sections import table


def capacity(document: dict[str, Any]) -> list[str]:
    """``make capacity``: the model's prediction beside the measurement, and what rates would need."""
    figures = document["figures"]
    inputs = figures["inputs"]
    speedups = ", ".join(f"{n}: {value:.2f}×" for n, value in inputs["vllm_speedups"].items())
    shares = ", ".join(f"{kind} {share:.0%}" for kind, share in inputs["generating_share_by_kind"].items())
    intro = (
        f"Inputs: every request `make load`'s mix can send, each once alone ({inputs['answers']} requests), "
        f"{inputs['generating_share']:.0%} of their time generating (by kind, when the cache does not answer: "
        f"{shares}); the rest kept {inputs['rest_cores']:.2f} of "
        f"{inputs['cores']} cores busy; {inputs['slots']} generation slots; vLLM's throughput with n requests "
        f"at once over one: {speedups}."
    )
    rows = [
        [
            str(row["users"]),
            f"{row['predicted']['p50_ms']:,.0f}",
            f"{row['measured']['p50_ms']:,.0f}",
            f"{row['error']['p50']:+.0%}",
            f"{row['predicted']['p95_ms']:,.0f}",
            f"{row['measured']['p95_ms']:,.0f}",
            f"{row['error']['p95']:+.0%}",
        ]
        for row in figures["levels"]
    ]
    headings = ["users", "p50 ms predicted", "p50 ms measured", "error", "p95 ms predicted", "p95 ms measured", "error"]
    best = figures["machines_like_this_one"]
    sizing = ", ".join(f"{int(rate):,}/s: {math.ceil(count):,}" for rate, count in best["machines"].items())
    closing = (
        f"Machines like this one for the same mix on CPU, each at the best throughput measured here "
        f"({best['answers_per_second']:.2f} answers a second): {sizing}."
    )
    return [intro, "", *table(headings, rows), closing, ""]


def tier_costs(document: dict[str, Any]) -> list[str]:
    """``make tier-costs``: one request of the mix, tier by tier, and what each rate asks of each tier."""
    figures = document["figures"]
    request, needs = figures["per_request"], figures["needs"]
    idle = ", ".join(f"{tier} {cores:.3f} cores" for tier, cores in figures["idle_cores"].items() if tier != "redis")
    mix = ", ".join(f"{kind} {share:.0%}" for kind, share in figures["mix"].items())
    intro = (
        f"One request of `make load`'s mix ({mix}), from {figures['requests_measured']} requests each sent "
        "alone (a text the cache keeps, the second time), each tier's CPU less what it uses idle "
        f"({idle}), and what a rate asks of each tier a second:"
    )
    cpu, rates = request["cpu_ms"], list(needs)
    redis_rate = min(figures["redis_requests_per_second"].values())

    def row(label: str, cost: str, need: Callable[[dict[str, float]], str]) -> list[str]:
        return [label, cost, *(need(needs[rate]) for rate in rates)]

    def cores(tier: str) -> Callable[[dict[str, float]], str]:
        return lambda need: f"{need[f'{tier}_cores']:,.1f} cores"

    rows = [
        row("gateway (CPU)", f"{cpu['gateway']:.2f} ms", cores("gateway")),
        row("retriever (CPU: embedding, search)", f"{cpu['retriever']:.2f} ms", cores("retriever")),
        row("Redis: the gateway's round trips", f"{request['redis_round_trips']:.2f}",
            lambda need: f"{need['redis_round_trips_per_second']:,.0f}/s"),
        row("Redis: commands (every client's)", f"{request['redis_commands']:.2f}",
            lambda need: f"{need['redis_commands_per_second']:,.0f}/s"),
        row(f"Redis processes (each {redis_rate:,.0f} GET or SET commands a second here)", "",
            lambda need: f"{need['redis_processes']:,.2f}"),
        row("generator: prompt tokens", f"{request['prompt_tokens']:.0f}",
            lambda need: f"{need['prompt_tokens_per_second']:,.0f}/s"),
        row("generator: generated tokens", f"{request['generated_tokens']:.1f}",
            lambda need: f"{need['generated_tokens_per_second']:,.0f}/s"),
        row("generator (CPU here, one at a time)", f"{cpu['generator']:,.0f} ms", cores("generator")),
    ]  # fmt: skip
    headings = ["tier", "one request of the mix", *(f"at {int(rate):,}/s" for rate in rates)]
    routes = ", ".join(
        f"{route} {found['per_request']:.2f} ({found['requests']:.0f} requests)"
        for route, found in figures["redis_round_trips_by_route"].items()
    )
    return [intro, "", *table(headings, rows), "By kind:", "", *costs_by_kind(figures),
            f"Redis round trips a chat request made, by route: {routes}.", "", generator_line(figures), ""]  # fmt: skip


def costs_by_kind(figures: dict[str, Any]) -> list[str]:
    rows = [
        [kind, f"{figures['mix'][kind]:.0%}", str(cost["requests"]),
         *(f"{cost['cpu_ms'][tier]:.2f}" for tier in ("gateway", "retriever")),
         f"{cost['cpu_ms']['generator']:,.0f}", f"{cost['redis_round_trips']:.2f}", f"{cost['redis_commands']:.1f}",
         f"{cost['prompt_tokens']:.0f}", f"{cost['generated_tokens']:.1f}"]
        for kind, cost in figures["per_kind"].items()
    ]  # fmt: skip
    headings = ["kind", "share", "sent", "gateway CPU ms", "retriever CPU ms", "generator CPU ms",
                "gateway's Redis round trips", "Redis commands", "prompt tokens", "generated tokens"]  # fmt: skip
    return table(headings, rows)


def generator_line(figures: dict[str, Any]) -> str:
    shape, levels = figures["generator_request"], figures["generator_throughput"]
    rates = "; ".join(
        f"{n} at once: {level['generated_tokens_per_second']:,.1f} generated and "
        f"{level['prompt_tokens_per_second']:,.0f} prompt tokens a second"
        for n, level in levels.items()
    )
    return (
        f"vLLM on this CPU, asked directly with requests of the sweep's mean shape ({shape['prompt_tokens']:.0f} "
        f"prompt tokens, {shape['generated_tokens']:.0f} generated): {rates}."
    )
