"""``python -m tutorbook_devstack.load``: the mix at fixed concurrency levels against a stack it starts
(ports 18500-18503, temporary data), then optionally a soak; prints a table per level and memory per
service, writes JSON (``data/bench/load.json``) and a memory plot. ``--mix rag``: every request a new
question about the sample knowledge base (the RAG route alone; no adapter is uploaded).

``make load``: 1, 8, 32 and 50 concurrent, 60 s each. ``make soak``: 10 minutes at 50 concurrent."""

import argparse
import asyncio
import signal
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tutorbook_devstack.__main__ import stop_on_sigterm
from tutorbook_devstack.bench_report import write_results
from tutorbook_devstack.load.adapter import adapter_folder, upload_adapter
from tutorbook_devstack.load.driver import Level, run_level
from tutorbook_devstack.load.memory import MemorySampler, memory_summary
from tutorbook_devstack.load.mix import MIX, MIXES, MixSources
from tutorbook_devstack.load.report import level_figures, plot_memory, print_levels, print_memory
from tutorbook_devstack.stack import Stack, StackConfig, ingest_folder, running_stack

SAMPLES = Path(__file__).resolve().parents[4] / "samples"
ADMIN = "load-admin-key-0123456789"
# One key per virtual user: each is a product app, with the default per-key limits.
USER_KEYS = tuple(f"load-user-key-{number:03d}-0123456789" for number in range(64))


def run_levels(
    gateway_url: str,
    pids: dict[str, int],
    sources: MixSources,
    levels: list[Level],
    sample_every: float = 1.0,
    mix: Mapping[str, float] = MIX,
) -> tuple[dict[int, dict[str, Any]], MemorySampler]:
    """Each level in turn, memory sampled through all of them."""
    sampler = MemorySampler(pids, interval=sample_every).start()
    figures: dict[int, dict[str, Any]] = {}
    try:
        for seed, level in enumerate(levels):
            outcomes = asyncio.run(run_level(gateway_url, list(USER_KEYS), sources, level, seed=seed, mix=mix))
            figures[level.concurrency] = level_figures(outcomes)
            print_levels({level.concurrency: figures[level.concurrency]})
    finally:
        sampler.stop()
    return figures, sampler


def stack_config(data_dir: Path) -> StackConfig:
    return StackConfig(
        data_dir=data_dir, api_keys=USER_KEYS, admin_keys=(ADMIN,), model_cache_dir=Path("data/models").resolve(),
        gateway_port=18500, retriever_port=18501, generator_port=18502, redis_port=18503, redis_persistent=False,
    )  # fmt: skip


def prepare(stack: Stack, with_adapter: bool = True) -> MixSources:
    """The sample knowledge base ingested and (when the mix asks it) the classifier adapter uploaded."""
    gateway_url = stack.config.gateway_url
    ingest_folder(gateway_url, ADMIN, SAMPLES / "knowledge_base")
    name = upload_adapter(gateway_url, ADMIN, adapter_folder(SAMPLES)) if with_adapter else None
    return MixSources.from_samples(SAMPLES, adapter=name)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tutorbook_devstack.load", description=__doc__)
    parser.add_argument("--levels", default="1,8,32,50", help="concurrency levels, comma-separated ('' for none)")
    parser.add_argument("--seconds", type=float, default=60.0, help="per level")
    parser.add_argument("--max-requests", type=int, default=5000, help="per level")
    parser.add_argument("--soak-minutes", type=float, default=0.0)
    parser.add_argument("--soak-concurrency", type=int, default=50)
    parser.add_argument("--mix", choices=sorted(MIXES), default="default", help="rag: RAG questions only")
    parser.add_argument("--json", type=Path, default=Path("data/bench/load.json"))
    parser.add_argument("--plot", type=Path, default=Path("data/bench/load-memory.png"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    levels = [Level(int(c), args.seconds, args.max_requests) for c in args.levels.split(",") if c.strip()]
    if args.soak_minutes:
        levels.append(Level(args.soak_concurrency, args.soak_minutes * 60, 10**9))
    with tempfile.TemporaryDirectory(prefix="tutorbook-load-") as tmp, running_stack(stack_config(Path(tmp))) as stack:
        mix = MIXES[args.mix]
        sources = prepare(stack, with_adapter="adapter" in mix)
        pids = {name: service.process.pid for name, service in stack.services.items()}
        figures, sampler = run_levels(stack.config.gateway_url, pids, sources, levels, mix=mix)
    memory = memory_summary(sampler)
    print_levels(figures)
    print_memory(memory)
    title = f"resident memory through {'the soak' if args.soak_minutes else 'the load levels'} (2 cores)"
    plot = plot_memory(sampler, title, args.plot)
    results = {
        "mix": args.mix,
        "levels": figures,
        "memory": memory,
        "memory_samples": sampler.samples,
        "plot": str(plot),
    }
    print(f"\nwrote {write_results('load', results, args.json)} and {plot}")


if __name__ == "__main__":
    main()
