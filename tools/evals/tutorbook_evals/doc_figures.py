"""``python -m tutorbook_evals.doc_figures`` (``make doc-figures``): the figure tables in the docs, written
from the committed result files that the measuring commands wrote, never typed.

A block in a Markdown page is
``<!-- figures: NAME -->`` ... ``<!-- /figures -->``; NAME is one of :data:`BLOCKS`, each a result file and
a function from its JSON to Markdown lines. Each block starts with where its figures come from: the
command, the date, the commit and the machine, as the file records them. ``--check`` changes nothing and
fails when a page differs from what its files give (the test suite runs it). Figures typed in prose
name their file in a comment and are checked, not rewritten (:mod:`tutorbook_evals.doc_quotes`).
"""

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tutorbook_devstack.bench_report import machine_words
from tutorbook_devstack.bench_sections import table, tutor_section
from tutorbook_evals.doc_figure_evals import (
    SECOND_STAGE_CORPORA,
    claim_catches,
    embedding_classifier_calibration,
    retrieval_quality,
    routing_accuracy,
    second_stages,
    tutor_accuracy_levers,
)
from tutorbook_evals.doc_figure_rollouts import rollout
from tutorbook_evals.doc_figure_scaling import capacity, tier_costs
from tutorbook_evals.doc_quotes import disagreements, quote_count

REPO_ROOT = Path(__file__).resolve().parents[3]
PAGES = (
    "docs/adapters.md",
    "docs/answers.md",
    "docs/compare.md",
    "docs/observability.md",
    "docs/retriever.md",
    "docs/routing.md",
    "docs/scaling.md",
    "docs/security.md",
    "docs/state.md",
)
BLOCK = re.compile(r"(<!-- figures: (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /figures -->)", re.DOTALL)
Render = Callable[[dict[str, Any]], list[str]]


def provenance(document: dict[str, Any], path: str) -> str:
    """One line naming what measured the figures, when, at which commit, on what, and the file."""
    where = machine_words(document.get("machine") or {})
    commit = document.get("commit") or "not recorded"
    date = str(document.get("date") or document.get("created") or "?")[:10]
    return (
        f"*Measured by `{document.get('command', '?')}` on {date}, commit {commit}, on {where}; the figures "
        f"are `{path}`, this table is written from it (`make doc-figures`).*"
    )


def tutor_latency(document: dict[str, Any]) -> list[str]:
    return tutor_section(document["figures"], {})


def tutor_accuracy(document: dict[str, Any]) -> list[str]:
    """``make eval-tutors``: per label set, the adapter answering by label against the one answering by code."""
    rows = [
        "| label set | labels | train | held out | by label, every label in full (the reference) "
        "| by code, one step (as served) | by code, every code in full |",
        "|:---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figures in document["figures"]["sets"].items():
        label, code = figures.get("label", {}), figures.get("code", {})
        cells = [label.get("served"), code.get("served"), code.get("reference")]
        shown = [f"{cell['accuracy']:.3f} (ECE {cell['calibration_error']:.3f})" if cell else "" for cell in cells]
        counts = f"{figures['labels']} | {figures['train']} | {figures['test']}"
        rows.append(f"| {name} | {counts} | " + " | ".join(shown) + " |")
    return [*rows, ""]


PATH_NAMES = {
    "zero_shot": "zero-shot prompting",
    "few_shot": "few-shot prompting",
    "adapter": "adapter",
    "router": "router (`auto`)",
    "embedding_classifier": "embedding classifier",
}


def classification_comparison(document: dict[str, Any]) -> list[str]:
    """A ``tutorbook-compare`` run of a classification set: every path's quality, tokens and latency."""
    rows = []
    for path in document["paths"]:
        figures = path["figures"]
        calibration = figures.get("calibration_error")
        rows.append(
            [
                PATH_NAMES.get(path["path"], path["path"]),
                f"{figures['accuracy']:.3f}",
                f"{figures['macro_f1']:.3f}",
                "" if calibration is None else f"{calibration:.3f}",
                f"{path['prompt_tokens']:,.0f}",
                f"{path['p50_ms']:,.0f}",
                f"{path['p95_ms']:,.0f}",
            ]
        )
    headings = ["path", "accuracy", "macro-F1", "calibration error", "prompt tokens", "p50 ms", "p95 ms"]
    return table(headings, rows)


def key_check(document: dict[str, Any]) -> list[str]:
    """``make bench-gateway``: a request's key check in the gateway process, and a runtime key end to end."""
    figures = document["figures"]
    names = {
        "before": "the check before runtime keys (the configured keys, compared in constant time)",
        "bootstrap_key": "a configured (bootstrap) key now",
        "runtime_key": "a runtime key, among 1,000 others",
    }
    checks = figures["key_check_us"]
    rows = [[names[name], f"{row['p50']:.2f}", f"{row['p95']:.2f}"] for name, row in checks.items()]
    lines = table(["key check, in the gateway process", "p50 µs", "p95 µs"], rows)
    added = figures.get("runtime_key_added_us")
    if added:
        lines += [
            f"Through the gateway, the same chat request with a runtime key instead of a configured one: "
            f"{added['p50']:+.0f} µs at p50, {added['p95']:+.0f} µs at p95 (interleaved, "
            f"{int(figures['gateway_ms']['n'])} requests each).",
            "",
        ]
    return lines


def tracing_hooks(document: dict[str, Any]) -> list[str]:
    """``make bench-gateway``: a RAG request's tracing hooks in the gateway process, untraced and traced."""
    hooks = document["figures"]["tracing_hooks_us"]
    names = {
        "untraced": "untraced (`TUTORBOOK_OTLP_ENDPOINT` unset, the default)",
        "traced": "traced (every span made and ended; exporting is a batch thread's work)",
    }
    rows = [[names[name], f"{row['p50']:.2f}", f"{row['p95']:.2f}"] for name, row in hooks.items()]
    return table(["a RAG request's 8 step spans and 3 outgoing trace contexts", "p50 µs", "p95 µs"], rows)


def permission_filter(document: dict[str, Any]) -> list[str]:
    """``make bench-retrieval``: search with a permission filter beside the same search without one."""
    figures = document["figures"]
    share = figures["permission_filter"]["private_share"]
    rows = [
        [
            row["backend"],
            f"{row['chunks']:,}",
            f"{row['latency_ms']['p50']:.2f}",
            f"{row['filtered_latency_ms']['p50']:.2f}",
            f"{row['latency_ms']['p95']:.2f}",
            f"{row['filtered_latency_ms']['p95']:.2f}",
            f"{row['filtered_ratio']:.2f}×",
        ]
        for row in figures["search"]
    ]
    headings = ["store", "chunks", "p50 ms", "filtered p50 ms", "p95 ms", "filtered p95 ms", "filtered / plain p50"]
    intro = (
        f"Hybrid top-5 search through the retriever's HTTP API (query embedding included), each question asked "
        f"without and with `visible_to` {figures['permission_filter']['visible_to']}, interleaved; {share:.0%} of "
        "the chunks private to other teams."
    )
    return [intro, "", *table(headings, rows, left=2)]


def failover_check(document: dict[str, Any]) -> list[str]:
    """``make ha-check``: Redis Sentinel's failover under chat traffic and key writes on the real stack."""
    figures = document["figures"]
    rows = [
        ["requests sent (chat and key writes)", str(figures["requests"])],
        ["chat answered 5xx, or any request not answered", str(figures["five_xx"])],
        ["key writes refused with 503 (never acknowledged)", str(figures["key_writes_refused"])],
        ["acknowledged key writes lost", f"{figures['acknowledged_writes_lost']} of {figures['keys_acknowledged']}"],
        ["seconds a client of the sentinels could not write", f"{figures['seconds_without_redis']:.2f}"],
        ["seconds from the kill to the promotion", f"{figures['failover_seconds']:.2f}"],
        [
            "seconds from the kill to a replica again (the old primary restarted)",
            f"{figures['replica_back_seconds']:.2f}",
        ],
    ]
    return table([f"failover under traffic, {figures['clients']} clients", "measured"], rows)


BLOCKS: dict[str, tuple[str, Render]] = {
    "routing-test": ("data/eval/routing.json", routing_accuracy),
    "claims-held-out": ("data/eval/claims-held-out.json", claim_catches),
    "claims-development": ("data/eval/answers.json", claim_catches),
    "retrieval-emanual-s10": ("data/eval/retrieval-emanual-s10.json", retrieval_quality),
    "retrieval-emanual-tv": ("data/eval/retrieval-emanual-tv.json", retrieval_quality),
    "retrieval-samples": ("data/eval/retrieval-samples.json", retrieval_quality),
    "retrieval-held-out": ("data/eval/retrieval-held-out.json", retrieval_quality),
    "retrieval-mtrag-cloud": ("data/eval/retrieval-mtrag-cloud.json", retrieval_quality),
    "key-check": ("data/bench/gateway.json", key_check),
    "tracing-hooks": ("data/bench/gateway.json", tracing_hooks),
    "failover": ("data/bench/ha-check.json", failover_check),
    "capacity": ("data/bench/capacity.json", capacity),
    "capacity-unseen": ("data/bench/capacity-unseen.json", capacity),
    "tier-costs": ("data/bench/tier-costs.json", tier_costs),
    "permission-filter": ("data/bench/retrieval.json", permission_filter),
    "tutor-latency": ("data/bench/tutor.json", tutor_latency),
    "rollout": ("data/bench/rollout.json", rollout),
    "tutor-accuracy": ("data/eval/tutors.json", tutor_accuracy),
    "embedding-classifier-calibration": ("data/eval/embedding-classifiers.json", embedding_classifier_calibration),
    "compare-support-triage": ("docs/examples/compare-support-triage/comparison.json", classification_comparison),
}


# Blocks written from several files, each named in its own provenance line.
MULTI_BLOCKS: dict[str, tuple[tuple[str, ...], Callable[[list[dict[str, Any]]], list[str]]]] = {
    "tutor-accuracy-levers": (("data/eval/tutors.json", "data/eval/tutors-word-codes.json"), tutor_accuracy_levers),
    "second-stages": (tuple(f"data/eval/rerank-{corpus}.json" for corpus in SECOND_STAGE_CORPORA), second_stages),
}


def rendered(name: str, root: Path) -> str:
    if name in MULTI_BLOCKS:
        paths, render_all = MULTI_BLOCKS[name]
        documents = [json.loads((root / path).read_text()) for path in paths]
        lines = [
            line for document, path in zip(documents, paths, strict=True) for line in (provenance(document, path), "")
        ]
        return "\n".join([*lines, *render_all(documents)]).rstrip("\n") + "\n"
    path, render = BLOCKS[name]
    document = json.loads((root / path).read_text())
    return "\n".join([provenance(document, path), "", *render(document)]).rstrip("\n") + "\n"


def filled(page: str, root: Path) -> str:
    """``page`` with every block rewritten from its file (an unknown block name is an error)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in BLOCKS and name not in MULTI_BLOCKS:
            raise KeyError(f"unknown figures block {name!r}; known: {', '.join([*BLOCKS, *MULTI_BLOCKS])}")
        return match.group(1) + rendered(name, root) + match.group(4)

    return BLOCK.sub(replace, page)


def stale_pages(root: Path, write: bool) -> list[str]:
    """The pages whose blocks differ from their files (rewritten when ``write``)."""
    stale = []
    for relative in PAGES:
        page = root / relative
        text = page.read_text()
        fresh = filled(text, root)
        if fresh != text:
            stale.append(relative)
            if write:
                page.write_text(fresh)
    return stale


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tutorbook_evals.doc_figures", description=__doc__)
    parser.add_argument("--check", action="store_true", help="change nothing; fail if a page is stale")
    args = parser.parse_args()
    stale = stale_pages(REPO_ROOT, write=not args.check)
    if args.check and stale:
        sys.exit(f"figures differ from their result files in: {', '.join(stale)}; run `make doc-figures`")
    print("\n".join(f"wrote {page}" for page in stale) or "every figures block is up to date")
    wrong = disagreements(REPO_ROOT)  # typed in prose: reported, never rewritten
    if wrong:
        sys.exit("figures quoted in prose differ from their result files:\n" + "\n".join(wrong))
    print(f"every figure quoted in prose ({quote_count(REPO_ROOT)}) matches its result file")


if __name__ == "__main__":
    main()
