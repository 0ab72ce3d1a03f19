"""Search through the retriever's HTTP API, query embedding included, on indexes of several sizes, each
backend in its own retriever process: latency (p50 / p95) and the process's resident memory, unfiltered
and permission-filtered side by side.

Indexes larger than the corpus repeat its real chunks with slightly perturbed vectors; they are written
into a data folder first, then a retriever process serves that folder (port 18201). A fifth of the chunks
are private to other teams, the rest public; each question is asked unfiltered and as team ``team-x``
(``visible_to: ["team-x", "public"]``), interleaved, so both see the same machine at the same moment."""

import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from tutorbook_config.service_settings import configured
from tutorbook_devstack.bench_report import summary
from tutorbook_devstack.processes import start_service, wait_ready
from tutorbook_evals.retrieval_corpora import EvalCorpus
from tutorbook_retriever.clients.chunk_index import ChunkPoint
from tutorbook_retriever.clients.document_registry import DocumentRecord
from tutorbook_retriever.clients.store import Store
from tutorbook_retriever.ingestion import content_hash
from tutorbook_retriever.settings import RetrieverSettings
from tutorbook_retriever.wiring import open_store

PORT = 18201
TOKEN = "bench-internal-token-0123456789"
PRIVATE_SHARE = 0.2  # of the synthetic chunks, private to one of OTHER_TEAMS; the rest are public
OTHER_TEAMS = [f"team-{n}" for n in range(1, 5)]
VISIBLE_TO = ["team-x", "public"]  # the filtered search's caller: sees the public chunks only
FILTERED_TARGET = 1.2  # a permission-filtered search within 1.2x of an unfiltered one (p50, at 100k chunks)
GRAPH_TIMEOUT = 1800.0  # seconds for the graphs of a filled index to be built (Edge: about a minute at 250,000)


@dataclass(frozen=True)
class Served:
    backend: str
    chunks: int
    latency_ms: dict[str, float]
    memory_mib: float
    filtered_latency_ms: dict[str, float]  # the same searches with visible_to=VISIBLE_TO
    filtered_ratio: float  # filtered p50 / unfiltered p50


def synthetic_access(rng: random.Random) -> list[str]:
    return [rng.choice(OTHER_TEAMS)] if rng.random() < PRIVATE_SHARE else ["public"]


def grow_index(store: Store, corpus: EvalCorpus, originals: list[ChunkPoint], size: int, seed: int) -> None:
    """Fill ``store`` with ``size`` chunks: the corpus's chunks, repeated with slightly perturbed vectors,
    a share of them (PRIVATE_SHARE) private to other teams than the filtered search's."""
    rng = random.Random(seed)
    store.registry.put([DocumentRecord(d.id, d.title, content_hash(d), 1) for d in corpus.documents])
    batch: list[ChunkPoint] = []
    for n in tqdm(range(size), desc=f"index {size}", unit="chunk", leave=False, file=sys.stderr):
        original = originals[n % len(originals)]
        dense = [value + rng.gauss(0, 0.02) for value in original.dense]
        norm = sum(value * value for value in dense) ** 0.5
        payload = dict(original.payload, chunk_id=f"{original.payload['chunk_id']}~{n}", access=synthetic_access(rng))
        point_id = f"00000000-0000-4000-8000-{n:012d}"
        batch.append(ChunkPoint(point_id, [value / norm for value in dense], original.lexical, payload))
        if len(batch) == 1000:
            store.chunks.write(batch)
            batch = []
    if batch:
        store.chunks.write(batch)
    store.registry.bump_version()


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def timed_search(client: httpx.Client, body: dict[str, Any]) -> float:
    started = time.perf_counter()
    client.post("/v1/search", json=body).raise_for_status()
    return (time.perf_counter() - started) * 1000


def time_searches(client: httpx.Client, questions: list[str], queries: int) -> tuple[list[float], list[float]]:
    """Milliseconds per hybrid top-5 search, unfiltered and filtered by VISIBLE_TO, cycling through
    ``questions`` (after a warm-up of both): each question is asked both ways in turn, which goes first
    alternating, so neither gets a warmer cache or a quieter machine."""
    plain = {"top_k": 5, "mode": "hybrid"}
    filtered = {**plain, "visible_to": VISIBLE_TO}
    for question in questions[:5]:
        timed_search(client, {**plain, "query": question})
        timed_search(client, {**filtered, "query": question})
    unfiltered_ms: list[float] = []
    filtered_ms: list[float] = []
    for n in range(queries):
        question = questions[n % len(questions)]
        pair = [(unfiltered_ms, plain), (filtered_ms, filtered)]
        for timings, body in pair if n % 2 == 0 else reversed(pair):
            timings.append(timed_search(client, {**body, "query": question}))
    return unfiltered_ms, filtered_ms


def serve_and_search(
    data_dir: Path, backend: str, questions: list[str], queries: int
) -> tuple[tuple[list[float], list[float]], float]:
    """Start a retriever on ``data_dir``, time the searches (unfiltered, filtered), read its memory, stop it."""
    env = {
        **os.environ,
        "TUTORBOOK_DATA_DIR": str(data_dir),
        "TUTORBOOK_RETRIEVER_STORE__EMBEDDED": backend,
        "TUTORBOOK_RETRIEVER_SERVER__PORT": str(PORT),
        "TUTORBOOK_INTERNAL_TOKEN": TOKEN,
        "TUTORBOOK_RETRIEVER_STORE__QDRANT_URL": "",
        "TUTORBOOK_REDIS_URL": "",
    }
    service = start_service(
        f"retriever-{backend}", [sys.executable, "-m", "tutorbook_retriever"], env, data_dir / "logs"
    )
    try:
        wait_ready(service, f"http://127.0.0.1:{PORT}/readyz", timeout=300)
        headers = {"authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", headers=headers, timeout=120) as client:
            timings = time_searches(client, questions, queries)
        return timings, resident_mib(service.process.pid)
    finally:
        service.stop()


def bench_served_search(
    corpus: EvalCorpus, originals: list[ChunkPoint], sizes: list[int], backends: list[str], queries: int, root: Path
) -> list[Served]:
    """For each size, each backend: build its folder, serve it, search it through HTTP."""
    questions = [question.text for question in corpus.questions]
    served = []
    for size in sizes:
        for backend in backends:
            data_dir = root / f"{backend}-{size}"
            settings = configured(
                RetrieverSettings, shared__data_dir=data_dir, store__embedded=backend, store__qdrant_url=""
            )
            store, close = open_store(settings, len(originals[0].dense))
            try:
                grow_index(store, corpus, originals, size, seed=size)
                store.chunks.wait_indexed(GRAPH_TIMEOUT)  # searched as the retriever will search it from now on
            finally:
                close()
            (unfiltered, filtered), memory = serve_and_search(data_dir, backend, questions, queries)
            row = served_row(backend, size, unfiltered, filtered, memory)
            served.append(row)
            print(
                f"{size:>8} {backend:<6} p50 {row.latency_ms['p50']:8.1f}  p95 {row.latency_ms['p95']:8.1f} ms"
                f"   filtered p50 {row.filtered_latency_ms['p50']:8.1f}  p95 {row.filtered_latency_ms['p95']:8.1f} ms"
                f"   ratio {row.filtered_ratio:5.2f}x   retriever RSS {memory:7.0f} MiB",
                flush=True,
            )
    return served


def permission_filter_summary(served: list[Served]) -> dict[str, Any]:
    """The filtered / unfiltered p50 ratio per backend and size, and whether the largest index meets the
    target (printed, and kept in the figures); nothing when no search was measured."""
    if not served:
        return {}
    ratios: dict[str, dict[str, float]] = {}
    for row in served:
        ratios.setdefault(row.backend, {})[str(row.chunks)] = round(row.filtered_ratio, 3)
    print(f"\n== Permission-filtered search (visible_to={VISIBLE_TO}) against unfiltered, p50 ratio")
    for backend, by_size in ratios.items():
        cells = "   ".join(f"{size:>7} chunks {ratio:5.2f}x" for size, ratio in by_size.items())
        print(f"  {backend:<6}{cells}")
    largest = max((row.chunks for row in served), default=0)
    met = {row.backend: row.filtered_ratio <= FILTERED_TARGET for row in served if row.chunks == largest}
    print(f"  target: within {FILTERED_TARGET}x at {largest} chunks: {met}")
    return {"visible_to": VISIBLE_TO, "private_share": PRIVATE_SHARE, "target": FILTERED_TARGET,
            "ratio_p50": ratios, "target_met_at_largest": met}  # fmt: skip


def served_row(backend: str, size: int, unfiltered: list[float], filtered: list[float], memory: float) -> Served:
    plain, permitted = summary(unfiltered), summary(filtered)
    return Served(backend, size, plain, memory, permitted, permitted["p50"] / plain["p50"])
