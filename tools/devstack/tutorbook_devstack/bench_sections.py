"""One section of ``docs/benchmarks.md`` per comparison: plain functions, a benchmark's figures (its
JSON) in and Markdown lines out. Every ratio is computed here from the percentiles the benchmark wrote,
so the sentence says exactly what the table shows. The page around them: :mod:`bench_page`."""

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Figures = dict[str, Any]
Images = dict[str, str]  # what a plot shows -> its path relative to the page
PERCENTILES = ("p50", "p95", "p99")


def number(value: float | None) -> str:
    """Enough digits to compare, no more."""
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def signed(value: float) -> str:
    return ("+" if value >= 0 else "−") + number(abs(value))


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def times(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def table(headings: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """A Markdown table: the first ``left`` columns left-aligned (labels), the others right-aligned (figures)."""
    alignment = [":---"] * left + ["---:"] * (len(headings) - left)
    lines = ["| " + " | ".join(headings) + " |", "|" + "|".join(alignment) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def percentile_row(label: str, summary: Figures, scale: float = 1.0) -> list[str]:
    return [label, str(int(summary["n"])), *(number(summary[p] * scale) for p in PERCENTILES)]


def difference_row(label: str, slower: Figures, faster: Figures) -> list[str]:
    return [label, "", *(signed(slower[p] - faster[p]) for p in PERCENTILES)]


def ratio_row(label: str, numerator: Figures, denominator: Figures, scale: float = 1.0) -> list[str]:
    return [label, "", *(times(ratio(numerator[p] * scale, denominator[p])) for p in PERCENTILES)]


def image(images: Images, key: str, caption: str) -> list[str]:
    return [f"![{caption}]({images[key]})", ""] if key in images else []


def gateway_section(figures: Figures, images: Images) -> list[str]:
    direct, bare, gateway = figures["direct_ms"], figures["bare_proxy_ms"], figures["gateway_ms"]
    state = figures.get("state", "redis")
    lines = [
        "The same chat request (the base model named, so no retrieval; one generated token, temperature 0) "
        "sent to vLLM directly, through a bare Python proxy (what any extra HTTP hop costs here) and through "
        f"the gateway (response cache off, rate limiting on, state in {state}), interleaved round by round.",
        "",
    ]
    lines += table(
        ["milliseconds", "n", "p50", "p95", "p99"],
        [
            percentile_row("vLLM directly", direct),
            percentile_row("through a bare Python proxy", bare),
            percentile_row("through the gateway", gateway),
            difference_row("added by a bare hop", bare, direct),
            difference_row("added by the gateway", gateway, direct),
            ratio_row("gateway / vLLM directly", gateway, direct),
            ratio_row("bare proxy / vLLM directly", bare, direct),
        ],
    )
    added, hop = gateway["p50"] - direct["p50"], bare["p50"] - direct["p50"]
    lines += [
        f"Through the gateway a request takes **{times(ratio(gateway['p50'], direct['p50']))}** the time of vLLM "
        f"directly at p50 (**{signed(added)} ms**; a bare hop: {signed(hop)} ms).",
        "",
    ]
    return lines + key_check_lines(figures)


def key_check_lines(figures: Figures) -> list[str]:
    """Runtime keys beside configured ones: in the process (the check alone) and through the gateway."""
    checks = figures.get("key_check_us")
    if not checks:
        return []
    rows = [
        [name.replace("_", " "), str(int(row["n"])), *(number(row[p]) for p in PERCENTILES)]
        for name, row in checks.items()
    ]
    lines = ["A request's key check alone, in the gateway process (microseconds; `before`: the check before runtime "
             "keys, kept in the benchmark as the reference; a runtime key among 1,000):", ""]  # fmt: skip
    lines += table(["microseconds", "n", "p50", "p95", "p99"], rows)
    added = figures.get("runtime_key_added_us")
    if added:
        lines += [
            f"Through the gateway, a runtime key instead of a configured one: **{signed(added['p50'])} us** at p50.",
            "",
        ]
    return lines


def cache_section(figures: Figures, images: Images) -> list[str]:
    hit, miss = figures["hit_ms"], figures["miss_ms"]
    lines = [
        "Through the gateway, interleaved: the same RAG question again and again (hits, after the first) and "
        "a new sample question each time (misses: retrieval, routing and generation).",
        "",
    ]
    lines += table(
        ["milliseconds, end to end", "n", "p50", "p95", "p99"],
        [percentile_row("cache hit", hit), percentile_row("cache miss", miss), ratio_row("miss / hit", miss, hit)],
    )
    lines += [f"A hit answers **{times(ratio(miss['p50'], hit['p50']))}** faster than a miss at p50.", ""]
    phases = figures.get("phase_mean_ms") or {}
    if phases:
        lines += ["Mean per request over the whole run, from the gateway's phase metrics:", ""]
        lines += table(["phase", "mean ms"], [[phase, number(ms)] for phase, ms in phases.items()])
    return lines


def router_section(figures: Figures, images: Images) -> list[str]:
    decision, search = figures["decision_us"], figures["search_ms"]
    lines = [
        f"{figures['requests']} requests of the labelled routing set ({figures.get('split', 'test')} split), "
        "the retriever in-process on the real embedder: the search that feeds the router timed once per request "
        "(query embedding, hybrid search, route examples, the gateway's parsing; the service adds an HTTP call), "
        f"then the router's decision alone on those signals, {figures.get('decision_repeats', 1)} times each.",
        "",
    ]
    lines += table(
        ["microseconds", "n", "p50", "p95", "p99"],
        [
            percentile_row("the decision alone", decision),
            percentile_row("the search that feeds it", search, scale=1000),
            ratio_row("search / decision", search, decision, scale=1000),
        ],
    )
    decision_ms = decision["p50"] / 1000
    share = ratio(decision_ms, search["p50"] + decision_ms)
    lines += [f"The decision itself is **{share:.3%}** of routing at p50." if share is not None else "", ""]
    routes = figures.get("routes") or {}
    if routes:
        lines += ["Routes decided: " + ", ".join(f"{route} {count}" for route, count in routes.items()) + ".", ""]
    return lines


def search_rows(searches: list[Figures], backends: list[str]) -> list[list[str]]:
    rows = []
    for size in sorted({row["chunks"] for row in searches}):
        at_size = {row["backend"]: row for row in searches if row["chunks"] == size}
        cells = [f"{size:,}"]
        for backend in backends:
            row = at_size.get(backend, {})
            latency = row.get("latency_ms", {})
            server = row.get("server_latency_ms", {})
            cells += [number(latency.get("p50")), number(latency.get("p95")), number(server.get("p50"))]
            cells.append(number(row.get("memory_mib")))
        if len(backends) == 2:
            first, second = (at_size.get(b, {}).get("latency_ms", {}).get("p50") for b in backends)
            cells.append(times(ratio(second, first)))
        rows.append(cells)
    return rows


def retrieval_section(figures: Figures, images: Images) -> list[str]:
    searches = figures["search"]
    backends = list(dict.fromkeys(row["backend"] for row in searches))
    lines = [
        "Hybrid top-5 search through the retriever's HTTP API, query embedding included, each index size and "
        "backend served by its own retriever process (indexes larger than the corpus repeat its chunks with "
        "perturbed vectors); server side: the same searches timed inside the retriever (its log), without HTTP.",
        "",
    ]
    columns = ("p50 ms", "p95 ms", "server side p50 ms", "RSS MiB")
    headings = ["chunks"] + [f"{b} {what}" for b in backends for what in columns]
    if len(backends) == 2:
        headings.append(f"{backends[1]} / {backends[0]} at p50")
    lines += table(headings, search_rows(searches, backends))
    lines += image(images, "search_latency", "Search latency by index size")
    embedding = figures.get("query_embedding_ms") or {}
    if {"torch", "onnx"} <= embedding.keys():
        torch, onnx = embedding["torch"], embedding["onnx"]
        lines += ["Embedding one query (batch of 1), the two runtimes side by side:", ""]
        lines += table(
            ["milliseconds", "n", "p50", "p95", "p99"],
            [
                percentile_row("torch", torch),
                percentile_row("ONNX Runtime", onnx),
                ratio_row("torch / ONNX", torch, onnx),
            ],
        )
    return lines


def ingestion_section(figures: Figures, images: Images) -> list[str]:
    ingestion = figures["ingestion"]
    chunks, end_to_end = ingestion["chunks"], ingestion["end_to_end"]
    lines = [
        f"The evaluation corpus ({chunks:,} chunks) ingested in-process through `ingest_documents`, the "
        "retriever's own ingestion (chunk, embed, sparse vectors, write), into a fresh store per backend.",
        "",
    ]
    rows = [[backend, number(row["seconds"]), number(row["chunks_per_second"])] for backend, row in end_to_end.items()]
    lines += table(["end to end", "seconds", "chunks/s"], rows)
    if len(end_to_end) == 2:
        (first, a), (second, b) = end_to_end.items()
        speed = times(ratio(b["chunks_per_second"], a["chunks_per_second"]))
        lines += [f"{second} ingests at **{speed}** the rate of {first}.", ""]
    stages = ingestion.get("stage_seconds") or {}
    if stages:
        lines += ["Each stage alone, over the whole corpus:", ""]
        lines += table(
            ["stage", "seconds", "chunks/s"],
            [[stage, number(seconds), number(ratio(chunks, seconds))] for stage, seconds in stages.items()],
        )
    return lines


def long_pages_section(figures: Figures, images: Images) -> list[str]:
    pages = figures.get("long_pages")
    if not pages:
        return ["Not in this run's figures (run with `--ingest-rounds 0`, or before this measurement existed).", ""]
    alone, through, again = pages["embedder_alone"], pages["through_gateway"], pages["reingestion"]
    lines = [
        f"Both E-Manual manuals as {pages['pages']} long pages ({pages['characters']:,} characters, "
        f"{pages['chunks']:,} chunks), sent through the gateway in batches of {pages['batch']} by one HTTP "
        "client, against the same chunk texts embedded in the benchmark's own process with the retriever's "
        f"embedder settings; best of {pages['rounds']} rounds, each pair measured side by side.",
        "",
    ]
    rows = [
        [label, number(row["seconds"]), number(row["chars_per_second"]), number(row["chunks_per_second"])]
        for label, row in (("embedder alone", alone), ("whole path, through the gateway", through))
    ]
    lines += table(["", "seconds", "characters/s", "chunks/s"], rows)
    lines += [
        f"The whole path (gateway, chunking, sparse vectors, embedding, writes) runs at "
        f"**{pages['share_of_embedder']:.0%}** of the embedder alone.",
        "",
        f"Sent again with {again['pages_edited']} of {pages['pages']} pages edited (one paragraph each): "
        f"{number(again['seconds'])} s, **{again['share_of_full']:.1%}** of a full ingestion; "
        f"{again['chunks_embedded']} of the {again['chunks_written']} chunks written were embedded, the rest "
        f"kept the vectors of their unchanged text. The retriever's resident memory afterwards: "
        f"{number(pages['retriever_rss_mib'])} MiB.",
        "",
    ]
    return lines


def adapter_section(figures: Figures, images: Images) -> list[str]:
    rounds = figures["rounds"]
    columns = ("upload_ms", "first_answer_ms", "upload_to_first_answer_ms", "warm_answer_ms")
    lines = [
        "The tiny support-triage adapter uploaded as a new version, round after round: the upload request "
        "(validate, store, hot-load into vLLM, teach the router), then a new question naming it until an answer "
        "comes from that version, then one more (warm) for comparison.",
        "",
    ]
    rows = [
        [str(n), str(row["version"]), *(number(row[c]) for c in columns), str(row.get("attempts", 1))]
        for n, row in enumerate(rounds, 1)
    ]
    median = {column: statistics.median(row[column] for row in rounds) for column in columns}
    rows.append(["median", "", *(number(median[c]) for c in columns), ""])
    headings = ["round", "version", "upload ms", "first answer ms", "upload to first answer ms", "warm answer ms"]
    lines += table([*headings, "requests"], rows)
    share = ratio(median["upload_ms"], median["upload_to_first_answer_ms"])
    lines += [
        f"From the upload to the first answer: **{number(median['upload_to_first_answer_ms'])} ms** "
        f"(median of {len(rounds)}); the upload request is {share:.0%} of that wait, and the first answer takes "
        f"**{times(ratio(median['first_answer_ms'], median['warm_answer_ms']))}** a warm one."
        if share is not None
        else "",
        "",
    ]
    return lines


TUTOR_ANSWERS = {"one_token": "one generated token", "code": "classification by code", "reference": "reference"}


def tutor_section(figures: Figures, images: Images) -> list[str]:
    lines = [
        "A LoRA classifier's answer through the gateway, beside one token generated by vLLM directly from the "
        "very prompt the gateway sends, with the same adapter (interleaved, a new question each). By code: the "
        "adapter trained to answer with a one-token code per label, scored in one decoding step. Reference: "
        "an adapter trained on whole labels, every label's full sequence scored, a prompt each. vLLM requests: "
        "per answer, by vLLM's own counter (a generation slot each).",
        "",
    ]
    rows = []
    for name, tutor in figures["latency"].items():
        for kind, answer in TUTOR_ANSWERS.items():
            if kind in tutor:
                row = tutor[kind]
                ratios = [times(row["ratio_p50_to_one_token"]), times(row["ratio_p95_to_one_token"])]
                measured = [str(int(row["n"])), number(row["p50"]), number(row["p95"]), *ratios]
                rows.append(
                    [f"{name} ({tutor['labels']} labels)", answer, *measured, f"{row['vllm_requests_per_answer']:.0f}"]
                )
    headings = ["label set", "answer", "n", "p50 ms", "p95 ms", "p50 / one token", "p95 / one token", "vLLM requests"]
    lines += table(headings, rows, left=2)
    concurrency = figures.get("concurrency")
    lines += [f"{concurrency} clients at once, each path in turn:", ""]
    rows = [
        [
            name,
            str(row["answers"]),
            number(row["answers_per_second"]),
            number(row["latency_ms"]["p50"]),
            number(row["latency_ms"]["p95"]),
            str(row["failures"]),
        ]
        for name, row in figures["throughput"].items()
    ]
    return lines + table(["path", "answers", "answers/s", "p50 ms", "p95 ms", "failed"], rows)


def level_rows(levels: dict[str, Figures]) -> list[list[str]]:
    ordered = sorted(levels.items(), key=lambda item: int(item[0]))
    base = ordered[0][1] if ordered else {}
    base_rate, base_p50 = base.get("requests_per_second"), (base.get("latency_ms") or {}).get("p50")
    rows = []
    for concurrency, level in ordered:
        latency = level.get("latency_ms") or {}
        rows.append(
            [concurrency, str(level["requests"]), str(level["answered"]), number(level["requests_per_second"])]
            + [number(latency.get(p)) for p in PERCENTILES]
            + [str(level["refused_with_retry_after"]), f"**{level['errors']}**" if level["errors"] else "0"]
            + [times(ratio(level["requests_per_second"], base_rate)), times(ratio(latency.get("p50"), base_p50))]
        )
    return rows


def load_section(figures: Figures, images: Images) -> list[str]:
    levels: dict[str, Figures] = figures["levels"]
    mix = figures.get("mix", "default")
    what = "every request a new question about the sample knowledge base" if mix == "rag" else f"the {mix} mix"
    first = min(levels, key=int) if levels else "1"
    lines = [
        f"Fixed concurrency on the RAG route ({what}; new, so never a cache hit), one key per virtual user, "
        "each level in turn. Refusals that say when to retry (429/503 with Retry-After) are counted apart "
        "from errors (anything else that is not a whole answer).",
        "",
    ]
    headings = ["concurrency", "requests", "answered", "answered/s", "p50 ms", "p95 ms", "p99 ms"]
    headings += ["refused (Retry-After)", "errors", f"answered/s vs {first}", f"p50 vs {first}"]
    lines += table(headings, level_rows(levels))
    examples = [example for level in levels.values() for example in level.get("error_examples", [])]
    if examples:
        lines += ["Errors seen (examples):", "", *(f"- `{example}`" for example in examples), ""]
    lines += image(images, "load_levels", "Throughput and latency by concurrency")
    memory = figures.get("memory") or {}
    if memory:
        rows = [[s, *(number(row[k]) for k in ("first_mib", "peak_mib", "last_mib"))] for s, row in memory.items()]
        lines += ["Resident memory of each service through the levels:", ""]
        lines += table(["MiB", "first", "peak", "last"], rows)
        lines += image(images, "load_memory", "Resident memory through the load levels")
    return lines


@dataclass(frozen=True)
class Section:
    benchmark: str  # whose figures it shows
    title: str
    render: Callable[[Figures, Images], list[str]]


SECTIONS = (
    Section("gateway", "Gateway overhead against vLLM directly", gateway_section),
    Section("cache", "Response cache: a hit against a miss", cache_section),
    Section("router", "Router decision time", router_section),
    Section("retrieval", "Retrieval latency by index size", retrieval_section),
    Section("retrieval", "Ingestion throughput", ingestion_section),
    Section("retrieval", "Ingestion of long pages, and of an edited corpus", long_pages_section),
    Section("adapter", "Adapter upload to first answer", adapter_section),
    Section("tutor", "A LoRA classifier against one generated token", tutor_section),
    Section("load", "Throughput and latency at fixed concurrency (RAG route)", load_section),
)
