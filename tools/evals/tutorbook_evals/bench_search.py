"""Search through the retriever's HTTP API, query embedding included, on indexes of several sizes, each
backend in its own retriever process: latency (p50 / p95) and the process's resident memory, unfiltered
and permission-filtered side by side.

Indexes larger than the corpus repeat its real chunks with slightly perturbed vectors; they are written
into a data folder first, then a retriever process serves that folder (port 18201). A fifth of the chunks
are private to other teams, the rest public; each question is asked unfiltered and as team ``team-x``
(``visible_to: ["team-x", "public"]``), interleaved, so both see the same machine at the same moment."""

import json
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
from tutorbook_service.request_context import REQUEST_ID_HEADER

PORT = 18201
TOKEN = "bench-internal-token-0123456789"
PRIVATE_SHARE = 0.2  # of the synthetic chunks, private to one of OTHER_TEAMS; the rest are public
OTHER_TEAMS = [f"team-{n}" for n in range(1, 5)]
VISIBLE_TO = ["team-x", "public"]  # the filtered search's caller: sees the public chunks only
FILTERED_TARGET = 1.2  # a permission-filtered search within 1.2x of an unfiltered one (p50) ...
FILTERED_TARGET_CHUNKS = 100_000  # ... at this index size (or the largest searched, when smaller)
GRAPH_TIMEOUT = 1800.0  # seconds for the graphs of a filled index to be built (Edge: about a minute at 250,000)
# qdrant-client's local mode searches exactly, in memory: seconds a search and 3.5 GB resident at 100,000 chunks
# (data/bench/retrieval.json). Larger indexes are searched on the other backends only.
LOCAL_LARGEST = 100_000


Timings = dict[str, list[float]]  # milliseconds per search, by kind (KINDS)
KINDS = ("plain", "filtered")  # each question asked unfiltered, and filtered by VISIBLE_TO
TIMED = "timed"  # the request ids of timed searches: timed-<kind>-<n> (warm-ups: warm-<kind>-<n>)


@dataclass(frozen=True)
class Searched:
    """One retriever's searches: timed through HTTP by the client, and by the retriever itself."""

    through_http: Timings
    server_side: Timings
    memory_mib: float


@dataclass(frozen=True)
class Served:
    backend: str
    chunks: int
    latency_ms: dict[str, float]
    memory_mib: float
    filtered_latency_ms: dict[str, float]  # the same searches with visible_to=VISIBLE_TO
    filtered_ratio: float  # filtered p50 / unfiltered p50
    server_latency_ms: dict[str, float]  # the unfiltered searches' time inside the retriever (its log)
    server_filtered_latency_ms: dict[str, float]


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


def timed_search(client: httpx.Client, body: dict[str, Any], request_id: str) -> float:
    started = time.perf_counter()
    client.post("/v1/search", json=body, headers={REQUEST_ID_HEADER: request_id}).raise_for_status()
    return (time.perf_counter() - started) * 1000


def time_searches(client: httpx.Client, questions: list[str], queries: int) -> Timings:
    """Milliseconds per hybrid top-5 search, unfiltered and filtered by VISIBLE_TO, cycling through
    ``questions`` (after a warm-up of both): each question is asked both ways in turn, which goes first
    alternating, so neither gets a warmer cache or a quieter machine. Each timed search carries a request
    id naming its kind (``timed-plain-<n>``, ``timed-filtered-<n>``), by which the retriever's log gives
    its time server side."""
    plain = {"top_k": 5, "mode": "hybrid"}
    bodies = dict(zip(KINDS, (plain, {**plain, "visible_to": VISIBLE_TO}), strict=True))
    for n, question in enumerate(questions[:5]):
        for kind, body in bodies.items():
            timed_search(client, {**body, "query": question}, f"warm-{kind}-{n}")
    timings: Timings = {kind: [] for kind in KINDS}
    for n in range(queries):
        question = questions[n % len(questions)]
        for kind in KINDS if n % 2 == 0 else reversed(KINDS):
            timings[kind].append(timed_search(client, {**bodies[kind], "query": question}, f"{TIMED}-{kind}-{n}"))
    return timings


def server_side_ms(log: Path) -> Timings:
    """The retriever's own time for each timed search (from its ``search`` log lines: embedding the query,
    searching the index, fusing; no HTTP), by kind."""
    timings: Timings = {kind: [] for kind in KINDS}
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("message") != "search":
            continue
        prefix, _, rest = str(entry.get("request_id", "")).partition("-")
        kind = rest.partition("-")[0]
        if prefix == TIMED and kind in timings:
            timings[kind].append(float(entry["duration_ms"]))
    return timings


def serve_and_search(data_dir: Path, backend: str, questions: list[str], queries: int) -> Searched:
    """Start a retriever on ``data_dir``, time the searches (unfiltered, filtered) through HTTP and server
    side, read its memory, stop it."""
    env = {
        **os.environ,
        "TUTORBOOK_DATA_DIR": str(data_dir),
        "TUTORBOOK_RETRIEVER_STORE__EMBEDDED": backend,
        "TUTORBOOK_RETRIEVER_SERVER__PORT": str(PORT),
        "TUTORBOOK_INTERNAL_TOKEN": TOKEN,
        "TUTORBOOK_RETRIEVER_STORE__QDRANT_URL": "",
        "TUTORBOOK_REDIS_URL": "",
        "PYTHONUNBUFFERED": "1",  # as in its container: each log line is in the file as it is written
    }
    service = start_service(
        f"retriever-{backend}", [sys.executable, "-m", "tutorbook_retriever"], env, data_dir / "logs"
    )
    try:
        wait_ready(service, f"http://127.0.0.1:{PORT}/readyz", timeout=300)
        headers = {"authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", headers=headers, timeout=120) as client:
            through_http = time_searches(client, questions, queries)
        memory = resident_mib(service.process.pid)
    finally:
        service.stop()
    return Searched(through_http, server_side_ms(service.log_path), memory)


def planned_searches(sizes: list[int], backends: list[str], local_largest: int) -> list[tuple[int, str]]:
    """Each size with each backend, in order, but local mode only up to ``local_largest`` chunks."""
    return [(size, backend) for size in sizes for backend in backends if backend != "local" or size <= local_largest]


def bench_served_search(
    corpus: EvalCorpus, originals: list[ChunkPoint], searches: list[tuple[int, str]], queries: int, root: Path
) -> list[Served]:
    """For each (size, backend): build its folder, serve it, search it through HTTP."""
    questions = [question.text for question in corpus.questions]
    served = []
    for size, backend in searches:
        data_dir = root / f"{backend}-{size}"
        fill_folder(data_dir, backend, corpus, originals, size)
        row = served_row(backend, size, serve_and_search(data_dir, backend, questions, queries))
        served.append(row)
        server_p50 = row.server_latency_ms.get("p50", float("nan"))
        print(
            f"{size:>8} {backend:<6} p50 {row.latency_ms['p50']:8.1f}  p95 {row.latency_ms['p95']:8.1f} ms"
            f"   filtered p50 {row.filtered_latency_ms['p50']:8.1f}  p95 {row.filtered_latency_ms['p95']:8.1f} ms"
            f"   ratio {row.filtered_ratio:5.2f}x   server side p50 {server_p50:8.1f} ms"
            f"   retriever RSS {row.memory_mib:7.0f} MiB",
            flush=True,
        )
    return served


def fill_folder(data_dir: Path, backend: str, corpus: EvalCorpus, originals: list[ChunkPoint], size: int) -> None:
    """A retriever data folder holding an index of ``size`` chunks, its graphs built."""
    settings = configured(RetrieverSettings, shared__data_dir=data_dir, store__embedded=backend, store__qdrant_url="")
    store, close = open_store(settings, len(originals[0].dense))
    try:
        grow_index(store, corpus, originals, size, seed=size)
        store.chunks.wait_indexed(GRAPH_TIMEOUT)  # searched as the retriever will search it from now on
    finally:
        close()


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
    judged_at = max((row.chunks for row in served if row.chunks <= FILTERED_TARGET_CHUNKS), default=0)
    met = {row.backend: row.filtered_ratio <= FILTERED_TARGET for row in served if row.chunks == judged_at}
    print(f"  target: within {FILTERED_TARGET}x at {judged_at} chunks: {met}")
    return {"visible_to": VISIBLE_TO, "private_share": PRIVATE_SHARE, "target": FILTERED_TARGET,
            "ratio_p50": ratios, "target_chunks": judged_at, "target_met": met}  # fmt: skip


def served_row(backend: str, size: int, searched: Searched) -> Served:
    plain, permitted = summary(searched.through_http["plain"]), summary(searched.through_http["filtered"])
    server = {kind: found_summary(searched.server_side.get(kind, []), int(plain["n"])) for kind in KINDS}
    return Served(
        backend, size, plain, searched.memory_mib, permitted, permitted["p50"] / plain["p50"],
        server["plain"], server["filtered"],
    )  # fmt: skip


def found_summary(samples: list[float], expected: int) -> dict[str, float]:
    """The summary of the server-side timings found in the log (its n says how many), said aloud when some
    are missing; none found: no figures (rather than losing the run's others)."""
    if len(samples) != expected:
        print(f"  the retriever's log held {len(samples)} of {expected} timed searches", flush=True)
    return summary(samples) if samples else {"n": 0}
