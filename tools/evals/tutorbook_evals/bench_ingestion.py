"""Ingestion of long pages through the gateway against the embedder alone, and the re-ingestion of an edited
corpus against a full one: part of ``tutorbook-bench-retrieval``.

The pages are both E-Manual manuals joined into pages of about 6,000 characters
(:func:`tutorbook_evals.retrieval_corpora.manual_pages`). A stack of its own (ports 18210-18213) answers;
one HTTP client sends every batch, as ``tutorbook-ingest`` does. Each round first embeds the pages' chunk
texts in this process with the retriever's embedder settings (the most any ingestion path could reach on
this machine), then ingests the same pages through the gateway under new ids (so everything is embedded),
so both see the machine at the same moment. Last, the corpus of the final round is sent again with 1% of
its pages edited (at least one): only their changed chunks are embedded again.
"""

import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec

from tutorbook_devstack.__main__ import stop_on_sigterm
from tutorbook_devstack.bench_report import summary, timed
from tutorbook_devstack.stack import StackConfig, running_stack
from tutorbook_evals.bench_search import resident_mib
from tutorbook_retriever.chunking import chunk_document
from tutorbook_retriever.clients.embedder import Embedder
from tutorbook_retriever.schemas import DocumentIn
from tutorbook_retriever.settings import RetrieverSettings
from tutorbook_retriever.vectors import embedding_text

ADMIN = "bench-ingestion-admin-key-0123456789"
KEY = "bench-ingestion-api-key-0123456789"
GATEWAY_PORT, RETRIEVER_PORT, GENERATOR_PORT, REDIS_PORT = 18210, 18211, 18212, 18213
BATCH = 32  # pages per request (tutorbook-ingest sends up to 256 documents, fewer when they are long)
EDITED_SHARE = 0.01
EDIT = " This paragraph was revised in this week's edition of the manual."


@dataclass(frozen=True)
class Sent:
    seconds: float
    chunks: int  # written
    embedded: int  # of those, embedded


def chunk_texts(pages: list[DocumentIn], settings: RetrieverSettings) -> list[str]:
    """What ingestion embeds for ``pages``, in its order (at the retriever's default chunking)."""
    limits = settings.ingest
    return [
        embedding_text(page.title or page.id, chunk)
        for page in pages
        for chunk in chunk_document(page.text, limits.chunk_max_tokens, limits.chunk_overlap_tokens)
    ]


def renamed(pages: list[DocumentIn], prefix: str) -> list[DocumentIn]:
    return [msgspec.structs.replace(page, id=f"{prefix}/{page.id}") for page in pages]


def edited(pages: list[DocumentIn], share: float) -> tuple[list[DocumentIn], int]:
    """``pages`` with ``share`` of them (at least one, spread evenly) changed in one paragraph of text (not a
    heading) mid-page."""
    count = max(1, round(len(pages) * share))
    chosen = {round(n * len(pages) / count) for n in range(count)}
    result = []
    for index, page in enumerate(pages):
        if index in chosen:
            paragraphs = page.text.split("\n\n")
            text_paragraphs = [n for n, paragraph in enumerate(paragraphs) if not paragraph.startswith("#")]
            paragraphs[text_paragraphs[len(text_paragraphs) // 2]] += EDIT
            page = msgspec.structs.replace(page, text="\n\n".join(paragraphs))
        result.append(page)
    return result, len(chosen)


def send(client: httpx.Client, pages: list[DocumentIn]) -> Sent:
    chunks = embedded = 0
    started = time.perf_counter()
    for start in range(0, len(pages), BATCH):
        batch = [msgspec.to_builtins(page) for page in pages[start : start + BATCH]]
        response = client.post("/v1/documents", json={"documents": batch})
        response.raise_for_status()
        body = response.json()
        chunks, embedded = chunks + body["chunks"], embedded + body["embedded"]
    return Sent(time.perf_counter() - started, chunks, embedded)


def rates(seconds: float, characters: int, chunks: int) -> dict[str, float]:
    return {"seconds": seconds, "chars_per_second": characters / seconds, "chunks_per_second": chunks / seconds}


def measure(client: httpx.Client, pages: list[DocumentIn], embedder: Embedder, rounds: int) -> dict[str, Any]:
    texts = chunk_texts(pages, RetrieverSettings())  # the stack's retriever runs at the default settings
    characters = sum(len(page.text) for page in pages)
    embedder.embed(texts[:BATCH])  # warm: the first call builds ONNX Runtime's session state
    send(client, renamed(pages[:2], "warm-up"))
    alone, through = [], []
    for round_number in range(rounds):
        alone.append(timed(lambda: embedder.embed(texts))[1])
        sent = send(client, renamed(pages, f"round-{round_number}"))
        assert sent.embedded == sent.chunks, "a fresh round must embed every chunk"
        through.append(sent.seconds)
        share = alone[-1] / through[-1]
        print(f"  round {round_number + 1}: embedder alone {alone[-1]:6.2f} s, through the gateway "
              f"{through[-1]:6.2f} s ({share:.0%} of the embedder's speed)", flush=True)  # fmt: skip
    last = renamed(pages, f"round-{rounds - 1}")
    changed, count = edited(last, EDITED_SHARE)
    again = send(client, changed)
    return {
        "pages": len(pages),
        "characters": characters,
        "chunks": len(texts),
        "batch": BATCH,
        "rounds": rounds,
        "embedder_alone": rates(min(alone), characters, len(texts)),
        "through_gateway": rates(min(through), characters, len(texts)),
        "embedder_alone_seconds": summary(alone),
        "through_gateway_seconds": summary(through),
        "share_of_embedder": min(alone) / min(through),
        "reingestion": {
            "pages_edited": count,
            "seconds": again.seconds,
            "chunks_written": again.chunks,
            "chunks_embedded": again.embedded,
            "full_ingestion_seconds": min(through),
            "share_of_full": again.seconds / min(through),
        },
    }


def bench_ingestion_through_gateway(pages: list[DocumentIn], embedder: Embedder, rounds: int) -> dict[str, Any]:
    print(f"\n== Long pages through the gateway: {len(pages)} pages, {sum(len(p.text) for p in pages):,} characters")
    signal.signal(signal.SIGTERM, stop_on_sigterm)  # a killed benchmark still stops its stack
    with tempfile.TemporaryDirectory(prefix="tutorbook-bench-ingest-") as tmp:
        config = StackConfig(
            data_dir=Path(tmp), api_keys=(KEY,), admin_keys=(ADMIN,), model_cache_dir=Path("data/models").resolve(),
            gateway_port=GATEWAY_PORT, retriever_port=RETRIEVER_PORT, generator_port=GENERATOR_PORT,
            redis_port=REDIS_PORT, redis_persistent=False,
            extra_env={"TUTORBOOK_GATEWAY_LIMITS__REQUESTS_PER_MINUTE": "100000"},
        )  # fmt: skip
        print("starting the stack ...", flush=True)
        with running_stack(config) as stack:
            headers = {"authorization": f"Bearer {ADMIN}"}
            with httpx.Client(base_url=config.gateway_url, headers=headers, timeout=600) as client:
                figures = measure(client, pages, embedder, rounds)
            figures["retriever_rss_mib"] = resident_mib(stack.services["retriever"].process.pid)
    report(figures)
    return figures


def report(figures: dict[str, Any]) -> None:
    alone, through, again = figures["embedder_alone"], figures["through_gateway"], figures["reingestion"]
    for label, row in (("embedder alone", alone), ("through the gateway", through)):
        print(f"  {label:<22}{row['seconds']:7.2f} s {row['chars_per_second']:9.0f} chars/s "
              f"{row['chunks_per_second']:6.1f} chunks/s")  # fmt: skip
    print(f"  the whole path runs at {figures['share_of_embedder']:.0%} of the embedder alone (best rounds)")
    print(f"  {again['pages_edited']} of {figures['pages']} pages edited, all sent again: {again['seconds']:.2f} s "
          f"({again['share_of_full']:.1%} of a full ingestion), {again['chunks_embedded']} of "
          f"{again['chunks_written']} written chunks embedded")  # fmt: skip
    print(f"  retriever resident memory: {figures['retriever_rss_mib']:.0f} MiB")
