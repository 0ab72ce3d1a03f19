"""The short version of ``make load``: the request mix (RAG questions, cache hits, small talk, a classifier
adapter, streams; each user starts with a different kind) from 8 virtual users at once for 30 s, against
the real stack; every request gets a whole answer (or, past capacity, a 429 / 503 with Retry-After), and
every process's memory is sampled through it. Throughput and latency are printed, not asserted
(``make load`` measures them)."""

import asyncio

import httpx
import pytest

from tests.conftest import SAMPLES
from tests.e2e.conftest import ADMIN_KEY, LOAD_KEYS
from tutorbook_devstack.load.driver import Level, run_level
from tutorbook_devstack.load.memory import MemorySampler, memory_summary
from tutorbook_devstack.load.mix import MIX, MixSources
from tutorbook_devstack.load.report import level_figures, print_levels, print_memory
from tutorbook_devstack.stack import Stack

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def test_the_mix_from_8_users_at_once_is_answered_whole(
    stack: Stack, gateway_url: str, sample_knowledge_base: object, trained_adapter: bytes
) -> None:
    files = {"file": ("a.tar.gz", trained_adapter)}
    uploaded = httpx.post(f"{gateway_url}/v1/adapters", files=files, headers=ADMIN, timeout=120)
    assert uploaded.status_code == 201, uploaded.text
    sources = MixSources.from_samples(SAMPLES, adapter=uploaded.json()["name"])
    sampler = MemorySampler({name: s.process.pid for name, s in stack.services.items()}, interval=0.5).start()
    try:
        level = Level(8, seconds=30, max_requests=64)
        outcomes = asyncio.run(run_level(gateway_url, list(LOAD_KEYS), sources, level))
    finally:
        sampler.stop()
        httpx.delete(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60)
    figures = level_figures(outcomes)
    print_levels({8: figures})
    memory = memory_summary(sampler)
    print_memory(memory)
    assert figures["errors"] == 0, figures["error_examples"]
    assert figures["answered"] >= 8
    assert {outcome.kind for outcome in outcomes if outcome.status == 200} == set(MIX)
    assert set(memory) == {"redis", "records-redis", "generator", "retriever", "gateway"}
    assert all(row["peak_mib"] > 0 for row in memory.values())
