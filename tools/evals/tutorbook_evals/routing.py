"""``tutorbook-eval-routing``: routing accuracy and the confusion matrix on the labelled routing set.

The retriever runs in-process on a fresh embedded index holding the sample knowledge base, the
small-talk examples and the demo adapter's route examples; every request then goes through the
gateway's own code: the retriever's search response is read by the gateway's client parser, turned into
router signals, and decided by the router with the gateway's default thresholds.

Tune on ``--split val``; quote ``--split test``, which shares no request with it
(:mod:`tutorbook_evals.routing_set`).
"""

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from tqdm import tqdm

from tutorbook_config.service_settings import replaced
from tutorbook_devstack.bench_report import write_results
from tutorbook_evals.routing_set import ROUTES, RoutingCase, Split, default_eval_data, demo_adapter_card, routing_cases
from tutorbook_gateway.adapters.catalog import ActiveAdapter, AdapterHealth, adapter_states
from tutorbook_gateway.chat.planning import route_signals
from tutorbook_gateway.clients.retriever import search_result
from tutorbook_gateway.route_examples import builtin_route_examples
from tutorbook_gateway.routing import RoutePolicy, RouteRequest, RouteSignals, decide
from tutorbook_gateway.settings import GatewaySettings
from tutorbook_gateway.wiring import route_policy
from tutorbook_retriever.clients.embedder import Embedder
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.ingestion import ingest_documents, replace_route_examples
from tutorbook_retriever.loaders import load_markdown_folder
from tutorbook_retriever.schemas import DocumentIn, RouteHit, SearchResponse
from tutorbook_retriever.search import search_chunks
from tutorbook_retriever.settings import RetrieverSettings
from tutorbook_retriever.wiring import ingest_limits, open_embedder, open_store, search_defaults

REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class RoutedCase:
    case: RoutingCase
    route: str
    reason: str


@dataclass(frozen=True)
class RoutingReport:
    routed: list[RoutedCase]
    decision_microseconds: list[float]

    @property
    def accuracy(self) -> float:
        return sum(item.route == item.case.expected for item in self.routed) / len(self.routed)

    def confusion(self) -> Counter[tuple[str, str]]:
        return Counter((item.case.expected, item.route) for item in self.routed)

    def misrouted(self) -> list[RoutedCase]:
        return [item for item in self.routed if item.route != item.case.expected]


def prepare_store(store: Store, embedder: Embedder, samples: Path, settings: RetrieverSettings, base: str) -> None:
    limits = ingest_limits(settings, max_documents=1000)
    documents = [DocumentIn(**document) for document in load_markdown_folder(samples / "knowledge_base")]
    ingest_documents(documents, embedder, store, limits)
    for name, examples in builtin_route_examples().items():
        replace_route_examples(name, examples, embedder, store)
    card = demo_adapter_card(samples, base)
    replace_route_examples(card.name, card.route_examples, embedder, store)


def signals_for(
    text: str, store: Store, embedder: Embedder, settings: RetrieverSettings, top_k: int, policy: RoutePolicy
) -> RouteSignals:
    """What the gateway would see: the retriever's wire response, parsed by the gateway's client."""
    options = dataclasses.replace(search_defaults(settings), top_k=top_k, include_routes=True)
    outcome = search_chunks(text, options, embedder, store)
    routes = [RouteHit(match.adapter, match.score, match.example) for match in outcome.routes]
    wire = msgspec.to_builtins(SearchResponse(hits=outcome.hits, routes=routes, index_version=outcome.index_version))
    return route_signals(search_result(wire), {})


def evaluate_routing(cases: list[RoutingCase], samples: Path, embedder: Embedder) -> RoutingReport:
    gateway = GatewaySettings()
    policy = route_policy(gateway)
    retriever = RetrieverSettings()
    card = demo_adapter_card(samples, gateway.shared.base_model_name)
    states = adapter_states({card.name: ActiveAdapter(card, 1)}, AdapterHealth())
    routed, timings = [], []
    with tempfile.TemporaryDirectory(prefix="tutorbook-routing-") as tmp:
        embedded = replaced(retriever, shared__data_dir=Path(tmp), store__qdrant_url="")
        store, close = open_store(embedded, embedder.dimension)  # what the service runs: Qdrant Edge
        try:
            prepare_store(store, embedder, samples, retriever, gateway.shared.base_model_name)
            for case in tqdm(cases, desc="routing", unit="request", file=sys.stderr):
                found = signals_for(case.text, store, embedder, retriever, gateway.answers.top_k, policy)
                signals = dataclasses.replace(found, adapters=states)
                started = time.perf_counter()
                decision = decide(RouteRequest("auto"), signals, policy)
                timings.append((time.perf_counter() - started) * 1e6)
                routed.append(RoutedCase(case, decision.route.value.replace("adapter+rag", "adapter"), decision.reason))
        finally:
            close()
    return RoutingReport(routed, timings)


def format_report(report: RoutingReport, split: str) -> str:
    confusion = report.confusion()
    width = 10
    lines = [
        f"routing set ({split} split): {len(report.routed)} requests; accuracy {report.accuracy:.3f}",
        "",
        "confusion matrix (rows: expected route, columns: chosen route)",
        f"{'':<{width}}" + "".join(f"{route:>{width}}" for route in ROUTES) + f"{'recall':>{width}}",
    ]
    for expected in ROUTES:
        row = [confusion[(expected, chosen)] for chosen in ROUTES]
        total = sum(row)
        recall = confusion[(expected, expected)] / total if total else 0.0
        lines.append(f"{expected:<{width}}" + "".join(f"{count:>{width}}" for count in row) + f"{recall:>{width}.3f}")
    precision = []
    for chosen in ROUTES:
        picked = sum(confusion[(expected, chosen)] for expected in ROUTES)
        precision.append(confusion[(chosen, chosen)] / picked if picked else 0.0)
    lines.append(f"{'precision':<{width}}" + "".join(f"{value:>{width}.3f}" for value in precision))
    ordered = sorted(report.decision_microseconds)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    lines += ["", f"router decision (no embedding): p50 {statistics.median(ordered):.1f} µs, p95 {p95:.1f} µs"]
    misrouted = report.misrouted()
    if misrouted:
        lines += ["", f"misrouted ({len(misrouted)}):"]
        lines += [f"  {m.case.expected} -> {m.route}: {m.case.text[:70]!r} ({m.reason})" for m in misrouted]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="tutorbook-eval-routing", description=__doc__)
    parser.add_argument(
        "--split",
        choices=["val", "test"],
        default="test",
        help="val: the half the thresholds are tuned on; test: the other half, to report (they share no request)",
    )
    parser.add_argument("--samples", type=Path, default=REPO_ROOT / "samples")
    parser.add_argument("--eval-data", type=Path, help="folder holding clinc150/ (default: ../shared/eval-data)")
    parser.add_argument("--json", type=Path, help="also write the accuracy and the confusion matrix here")
    args = parser.parse_args()
    eval_data = args.eval_data or default_eval_data(REPO_ROOT)
    if eval_data is None:
        parser.error("clinc150 not found: pass --eval-data or set TUTORBOOK_EVAL_DATA")
    split: Split = args.split
    cases = routing_cases(args.samples, eval_data / "clinc150", split)
    report = evaluate_routing(cases, args.samples, open_embedder(RetrieverSettings()))
    print(format_report(report, split))
    if args.json:  # counts only: the requests' texts stay in the eval data
        print(f"figures: {write_results('routing', report_figures(report, split), args.json)}")


def report_figures(report: RoutingReport, split: str) -> dict[str, Any]:
    """The accuracy and the confusion matrix (expected route, then chosen route: requests)."""
    confusion = report.confusion()
    matrix = {expected: {chosen: confusion[(expected, chosen)] for chosen in ROUTES} for expected in ROUTES}
    correct = sum(confusion[(route, route)] for route in ROUTES)
    return {"split": split, "requests": len(report.routed), "correct": correct, "accuracy": report.accuracy,
            "confusion": matrix}  # fmt: skip


if __name__ == "__main__":
    main()
