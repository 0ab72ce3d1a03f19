"""``python -m tutorbook_evals.bench_router``: how long the router's decision takes on real inputs, beside
the search that feeds it.

The routing evaluation's harness (:mod:`tutorbook_evals.routing`): the retriever in-process on a fresh
embedded index (the sample knowledge base, the small-talk examples, the demo adapter's route examples),
the real embedder, and the labelled routing set (the samples and CLINC150 from ../shared/eval-data). For
each request, the search that feeds the router is timed once (query embedding, hybrid search, route
examples, and the gateway's parsing of the wire response; in the service an HTTP call to the retriever
comes on top), then the decision alone on those signals, ``--repeats`` times. Prints p50 / p95 / p99 of
both and the decision's share of routing; writes JSON (``data/bench/router.json``).
"""

import argparse
import dataclasses
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from tutorbook_config.service_settings import replaced
from tutorbook_devstack.bench_report import summary, write_results
from tutorbook_evals.routing import REPO_ROOT, prepare_store, signals_for
from tutorbook_evals.routing_set import RoutingCase, Split, default_eval_data, demo_adapter_card, routing_cases
from tutorbook_gateway.adapters.catalog import ActiveAdapter, AdapterHealth, adapter_states
from tutorbook_gateway.routing import RouteRequest, decide
from tutorbook_gateway.settings import GatewaySettings
from tutorbook_gateway.wiring import route_policy
from tutorbook_retriever.clients.embedder import Embedder
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.settings import RetrieverSettings
from tutorbook_retriever.wiring import open_embedder, open_store

WARM_UP_CASES = 5


@dataclass(frozen=True)
class RouterTimings:
    search_ms: list[float]  # one per request
    decision_us: list[float]  # ``repeats`` per request
    routes: Counter[str]  # the route decided for each request


def spread(cases: list[RoutingCase], count: int | None) -> list[RoutingCase]:
    """``count`` cases taken evenly through the set (every route keeps its share), or all of them."""
    if count is None or count >= len(cases):
        return cases
    step = len(cases) / count
    return [cases[int(index * step)] for index in range(count)]


@contextmanager
def routing_index(embedder: Embedder, samples: Path, retriever: RetrieverSettings, base_model: str) -> Iterator[Store]:
    """A fresh embedded index (Qdrant Edge, as the service runs) with what the routing evaluation puts in it."""
    with tempfile.TemporaryDirectory(prefix="tutorbook-bench-router-") as tmp:
        embedded = replaced(retriever, shared__data_dir=Path(tmp), store__qdrant_url="")
        store, close = open_store(embedded, embedder.dimension)
        try:
            prepare_store(store, embedder, samples, retriever, base_model)
            yield store
        finally:
            close()


def time_routing(cases: list[RoutingCase], samples: Path, embedder: Embedder, repeats: int) -> RouterTimings:
    gateway, retriever = GatewaySettings(), RetrieverSettings()
    policy = route_policy(gateway)
    card = demo_adapter_card(samples, gateway.shared.base_model_name)
    states = adapter_states({card.name: ActiveAdapter(card, 1)}, AdapterHealth())
    timings = RouterTimings([], [], Counter())
    request = RouteRequest("auto")
    with routing_index(embedder, samples, retriever, gateway.shared.base_model_name) as store:
        for case in cases[:WARM_UP_CASES]:  # the first queries and decisions warm caches up: not timed
            decide(request, signals_for(case.text, store, embedder, retriever, gateway.answers.top_k, policy), policy)
        for case in tqdm(cases, desc="router", unit="request", file=sys.stderr):
            started = time.perf_counter_ns()
            found = signals_for(case.text, store, embedder, retriever, gateway.answers.top_k, policy)
            timings.search_ms.append((time.perf_counter_ns() - started) / 1e6)
            signals = dataclasses.replace(found, adapters=states)
            for _ in range(repeats):
                started = time.perf_counter_ns()
                decision = decide(request, signals, policy)
                timings.decision_us.append((time.perf_counter_ns() - started) / 1e3)
            timings.routes[decision.route.value] += 1
    return timings


def report(timings: RouterTimings, split: str, repeats: int) -> dict[str, Any]:
    decision, search = summary(timings.decision_us), summary(timings.search_ms)
    decision_ms = decision["p50"] / 1000
    share = decision_ms / (search["p50"] + decision_ms)
    heading = f"{len(timings.search_ms)} requests ({split} split), {repeats} decisions each"
    print(f"\n{heading:<52}{'p50':>10}{'p95':>10}{'p99':>10}")
    for label, row in (("the decision alone (µs)", decision), ("the search that feeds it (ms)", search)):
        print(f"{label:<52}{row['p50']:>10.2f}{row['p95']:>10.2f}{row['p99']:>10.2f}")
    print(f"the decision is {share:.3%} of routing at p50; the search takes {search['p50'] / decision_ms:.0f}x as long")
    print("routes decided: " + ", ".join(f"{route} {count}" for route, count in sorted(timings.routes.items())))
    return {
        "requests": len(timings.search_ms),
        "split": split,
        "decision_repeats": repeats,
        "decision_us": decision,
        "search_ms": search,
        "decision_share_p50": share,
        "routes": dict(sorted(timings.routes.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tutorbook_evals.bench_router", description=__doc__)
    parser.add_argument("--split", choices=["val", "test"], default="test", help="CLINC150 split")
    parser.add_argument("--cases", type=int, help="this many requests, taken evenly through the set (default all)")
    parser.add_argument("--repeats", type=int, default=20, help="timed decisions per request")
    parser.add_argument("--samples", type=Path, default=REPO_ROOT / "samples")
    parser.add_argument("--eval-data", type=Path, help="folder holding clinc150/ (default: ../shared/eval-data)")
    parser.add_argument("--json", type=Path, help="where the figures go (default data/bench/router.json)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    eval_data = args.eval_data or default_eval_data(REPO_ROOT)
    if eval_data is None:
        parser.error("clinc150 not found: pass --eval-data or set TUTORBOOK_EVAL_DATA")
    split: Split = args.split
    cases = spread(routing_cases(args.samples, eval_data / "clinc150", split), args.cases)
    timings = time_routing(cases, args.samples, open_embedder(RetrieverSettings()), args.repeats)
    print(f"figures: {write_results('router', report(timings, split, args.repeats), args.json)}")


if __name__ == "__main__":
    main()
