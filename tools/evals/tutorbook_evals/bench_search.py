"""Search through the retriever's HTTP API, query embedding included, on indexes of several sizes, each
backend in its own retriever process: latency (p50 / p95) and the process's resident memory.

Indexes larger than the corpus repeat its real chunks with slightly perturbed vectors; they are written
into a data folder first, then a retriever process serves that folder (port 18201)."""

import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class Served:
    backend: str
    chunks: int
    latency_ms: dict[str, float]
    memory_mib: float


def grow_index(store: Store, corpus: EvalCorpus, originals: list[ChunkPoint], size: int, seed: int) -> None:
    """Fill ``store`` with ``size`` chunks: the corpus's chunks, repeated with slightly perturbed vectors."""
    rng = random.Random(seed)
    store.registry.put([DocumentRecord(d.id, d.title, content_hash(d), 1) for d in corpus.documents])
    batch: list[ChunkPoint] = []
    for n in tqdm(range(size), desc=f"index {size}", unit="chunk", leave=False, file=sys.stderr):
        original = originals[n % len(originals)]
        dense = [value + rng.gauss(0, 0.02) for value in original.dense]
        norm = sum(value * value for value in dense) ** 0.5
        payload = dict(original.payload, chunk_id=f"{original.payload['chunk_id']}~{n}")
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


def time_searches(client: httpx.Client, questions: list[str], queries: int) -> list[float]:
    """Milliseconds per hybrid top-5 search, cycling through ``questions`` (after a warm-up)."""
    body = {"top_k": 5, "mode": "hybrid"}
    for question in questions[:5]:
        client.post("/v1/search", json={**body, "query": question}).raise_for_status()
    timings = []
    for n in range(queries):
        started = time.perf_counter()
        client.post("/v1/search", json={**body, "query": questions[n % len(questions)]}).raise_for_status()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def serve_and_search(data_dir: Path, backend: str, questions: list[str], queries: int) -> tuple[list[float], float]:
    """Start a retriever on ``data_dir``, time the searches, read its memory, stop it."""
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
            finally:
                close()
            timings, memory = serve_and_search(data_dir, backend, questions, queries)
            figures = summary(timings)
            served.append(Served(backend, size, figures, memory))
            print(
                f"{size:>8} {backend:<6} p50 {figures['p50']:8.1f}  p95 {figures['p95']:8.1f} ms"
                f"   retriever RSS {memory:7.0f} MiB",
                flush=True,
            )
    return served
