"""``python -m tutorbook_devstack.bench_all`` (``make bench``): every benchmark on the real stack, then
``docs/benchmarks.md`` from their figures.

Each benchmark runs as its own process, one after the other (never two at once: they would share the
cores they measure); those that need the services start a stack of their own, each on its own ports.
Each writes its JSON under ``data/bench/`` and its plots under ``docs/images/``; their output goes to
the console and to ``data/bench/logs/<name>.log``. A benchmark that fails is shown as failed in its
section and the next one still runs; the command then exits with status 1.

``--only gateway,cache`` runs some of them; ``--quick`` runs each briefly (a test of the command, not
figures to quote); ``--render-only`` writes the page again from the last run's record and JSON.
"""

import argparse
import datetime
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tutorbook_devstack.__main__ import stop_on_sigterm
from tutorbook_devstack.bench_charts import plot_levels
from tutorbook_devstack.bench_machine import describe_code, describe_machine
from tutorbook_devstack.bench_page import render_page

BENCHMARKS = ("gateway", "cache", "router", "retrieval", "adapter", "tutor", "load")  # in the order they run
MODULES = {
    "gateway": "tutorbook_devstack.bench_gateway",
    "cache": "tutorbook_devstack.bench_cache",
    "router": "tutorbook_evals.bench_router",
    "retrieval": "tutorbook_evals.bench_retrieval",  # search latency by index size, and ingestion
    "adapter": "tutorbook_devstack.bench_adapter",
    "tutor": "tutorbook_evals.bench_tutor",  # a LoRA classifier against one generated token, 5-77 labels
    "load": "tutorbook_devstack.load",
}
JSON_NAMES = {"load": "load-rag"}  # beside the default mix's load.json (make load)
# The ports each one's own stack (or retriever) listens on, set in its module.
PORTS = {
    "gateway": "18000-18003, 18379",
    "cache": "18100-18102, 18479",
    "retrieval": "18201, 18210-18213",
    "adapter": "18300-18303",
    "tutor": "18600-18603",
    "load": "18500-18503",
}
FULL_ARGUMENTS = {"load": ("--levels", "1,8,32", "--seconds", "60")}  # the others: their own defaults
BRIEF_ARGUMENTS = {  # --quick
    "gateway": ("--requests", "20", "--warm-up", "3"),
    "cache": ("--misses", "4", "--hits-per-miss", "3", "--warm-up", "3", "--max-tokens", "8"),
    "router": ("--cases", "40", "--repeats", "5"),
    "retrieval": ("--sizes", "1000", "--queries", "10", "--ingest-rounds", "1"),
    "adapter": ("--rounds", "1"),
    "tutor": ("--rounds", "3", "--reference-rounds", "1,1,0", "--seconds", "5"),
    "load": ("--levels", "1,8,32", "--seconds", "5", "--max-requests", "40"),
}
PLOTS = {"search_latency": "search-latency", "load_levels": "load-rag", "load_memory": "load-rag-memory"}  # key: file
TAIL_BYTES = 16_000  # of a benchmark's output, kept to show how a failed one ended
TAIL_LINES = 25
STOP_GRACE_SECONDS = 60  # for a benchmark past its time limit to stop its stack, per signal


@dataclass(frozen=True)
class Outputs:
    results: Path  # the benchmarks' JSON, the run's record, the logs
    images: Path
    page: Path

    def json(self, name: str) -> Path:
        return self.results / f"{name}.json"

    def image(self, name: str) -> Path:
        return self.images / f"bench-{name}.png"

    def log(self, name: str) -> Path:
        return self.results / "logs" / f"{name}.log"

    @property
    def record(self) -> Path:
        return self.results / "bench-all.json"


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str
    arguments: tuple[str, ...]
    json_path: Path
    ports: str = ""  # what its own stack listens on

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", self.module, *self.arguments, "--json", str(self.json_path)]


def planned_benchmarks(outputs: Outputs, quick: bool, retrieval_data: Path) -> list[Benchmark]:
    """Every benchmark, in the order they run, with its full arguments or (``quick``) its brief ones."""
    extra = BRIEF_ARGUMENTS if quick else FULL_ARGUMENTS
    own = {
        "retrieval": (
            *("--data", str(retrieval_data), "--manuals", str(retrieval_data)),
            *("--plot", str(outputs.image("search-latency"))),
        ),
        "load": ("--mix", "rag", "--plot", str(outputs.image("load-rag-memory"))),
    }
    plan = []
    for name in BENCHMARKS:
        arguments = own.get(name, ()) + extra.get(name, ())
        json_path = outputs.json(JSON_NAMES.get(name, name))
        plan.append(Benchmark(name, MODULES[name], arguments, json_path, PORTS.get(name, "")))
    return plan


def shown(command: list[str]) -> str:
    """The command as one would type it here (the interpreter relative to this folder when inside it)."""
    python = os.path.relpath(sys.executable)
    first = python if command[0] == sys.executable and not python.startswith("..") else command[0]
    return shlex.join([first, *command[1:]])


def output_tail(raw: bytes, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of an output, a progress bar's redrawn line (``\\r``) as its last state."""
    text = raw.decode(errors="replace")
    kept = [line.rsplit("\r", 1)[-1].rstrip() for line in text.split("\n")]
    return "\n".join([line for line in kept if line][-lines:])


def copy_output(source: IO[bytes], log: IO[bytes], tail: bytearray) -> None:
    """Each piece of the benchmark's output to the console and its log, as it comes; the end kept in ``tail``."""
    while piece := os.read(source.fileno(), 65536):
        sys.stdout.buffer.write(piece)
        sys.stdout.buffer.flush()
        log.write(piece)
        tail.extend(piece)
        del tail[:-TAIL_BYTES]


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ask nicely (the benchmarks stop their stacks on either signal), then insist."""
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        process.send_signal(signal_number)
        try:
            process.wait(STOP_GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            continue
    process.kill()
    process.wait()


def run_logged(command: list[str], log_path: Path, time_limit: float) -> tuple[int | None, str]:
    """Run ``command``, its output to the console and ``log_path``; its exit code (None: stopped at the
    time limit) and how its output ended."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tail = bytearray()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        assert process.stdout is not None
        pump = threading.Thread(target=copy_output, args=(process.stdout, log, tail), daemon=True)
        pump.start()
        try:
            returncode: int | None = process.wait(time_limit)
        except subprocess.TimeoutExpired:
            stop(process)
            returncode = None
        except KeyboardInterrupt:
            stop(process)
            raise
        pump.join(10)
    return returncode, output_tail(bytes(tail))


def run_benchmark(benchmark: Benchmark, outputs: Outputs, time_limit: float) -> dict[str, Any]:
    """Run one benchmark; its entry in the run's record."""
    print(f"\n=== {benchmark.name}: {shown(benchmark.command)}", flush=True)
    started = time.time()
    returncode, tail = run_logged(benchmark.command, outputs.log(benchmark.name), time_limit)
    error = None
    if returncode is None:
        error = f"stopped at its time limit ({time_limit / 60:.0f} min)"
    elif returncode != 0:
        error = f"exit code {returncode}"
    elif not written_since(benchmark.json_path, started):
        error = f"exit code 0, but it wrote no figures to `{benchmark.json_path}`"
    return {
        "name": benchmark.name,
        "command": shown(benchmark.command),
        "ports": benchmark.ports,
        "json": str(benchmark.json_path),
        "seconds": time.time() - started,
        "error": error,
        "output_tail": tail if error else "",
        "log": str(outputs.log(benchmark.name)),
    }


def written_since(path: Path, moment: float) -> bool:
    return path.is_file() and path.stat().st_mtime >= moment - 1


def run_all(benchmarks: list[Benchmark], outputs: Outputs, quick: bool, time_limit: float) -> dict[str, Any]:
    started = time.time()
    run = {
        "date": datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(timespec="seconds"),
        "command": shown([sys.executable, "-m", "tutorbook_devstack.bench_all", *sys.argv[1:]]),
        "quick": quick,
        "machine": describe_machine(),
        "code": describe_code(__file__),
        "benchmarks": [run_benchmark(benchmark, outputs, time_limit) for benchmark in benchmarks],
    }
    run["seconds"] = time.time() - started
    outputs.record.parent.mkdir(parents=True, exist_ok=True)
    outputs.record.write_text(json.dumps(run, indent=2) + "\n")
    return run


def read_documents(run: dict[str, Any], root: Path = Path()) -> dict[str, dict[str, Any]]:
    """The JSON each benchmark wrote in this run, by name (one whose JSON cannot be parsed gets an error);
    the recorded paths are relative to ``root``, where the run was started."""
    documents = {}
    for entry in run["benchmarks"]:
        if entry["error"]:
            continue
        try:
            documents[entry["name"]] = json.loads((root / entry["json"]).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            entry["error"] = f"its JSON `{entry['json']}` could not be read ({exc})"
    return documents


def draw_load_plot(documents: dict[str, dict[str, Any]], outputs: Outputs) -> None:
    levels = documents.get("load", {}).get("figures", {}).get("levels")
    if levels:
        plot_levels(levels, f"The RAG route at fixed concurrency ({os.cpu_count()} cores)", outputs.image("load-rag"))


def fresh_images(run: dict[str, Any], outputs: Outputs) -> dict[str, str]:
    """The plots this run made, as paths relative to the page (an older one is not shown)."""
    since = datetime.datetime.fromisoformat(run["date"]).timestamp()
    return {
        key: os.path.relpath(outputs.image(name), outputs.page.parent)
        for key, name in PLOTS.items()
        if written_since(outputs.image(name), since)
    }


def recorded_page(root: Path, outputs: Outputs) -> str:
    """The page as the last run's record and result files under ``root`` write it (what ``--render-only``
    writes, and what a test compares with the committed page)."""
    run = json.loads((root / outputs.record).read_text())
    return render_page(run, read_documents(run, root), run.get("images", {})).markdown


def selected(only: str | None) -> list[str]:
    """The benchmarks ``--only`` names (all when it is not given)."""
    names = [name.strip() for name in (only or ",".join(BENCHMARKS)).split(",") if name.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise ValueError(f"--only: unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    return names


def print_summary(run: dict[str, Any], failed: tuple[str, ...], page: Path) -> None:
    print(f"\n{'benchmark':<11}{'result':<8}{'time':>8}  figures")
    for entry in run["benchmarks"]:
        result = "FAILED" if entry["name"] in failed else "ok"
        print(f"{entry['name']:<11}{result:<8}{entry['seconds'] / 60:>7.1f}m  {entry['json']}")
    print(f"\nwrote {page}" + (f"; failed: {', '.join(failed)}" if failed else ""))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tutorbook_devstack.bench_all", description=__doc__)
    parser.add_argument("--only", help=f"comma-separated, of: {', '.join(BENCHMARKS)} (default all)")
    parser.add_argument("--quick", action="store_true", help="few requests, short levels: a test of the command")
    parser.add_argument("--retrieval-data", type=Path, default=Path("../shared/eval-data/emanual-qa"))
    parser.add_argument("--results", type=Path, default=Path("data/bench"), help="JSON, record and logs")
    parser.add_argument("--images", type=Path, default=Path("docs/images"))
    parser.add_argument("--output", type=Path, default=Path("docs/benchmarks.md"), help="the page")
    parser.add_argument("--time-limit-minutes", type=float, help="per benchmark (default 120, or 30 with --quick)")
    parser.add_argument("--render-only", action="store_true", help="the page again from the last run's record")
    args = parser.parse_args()
    outputs = Outputs(args.results, args.images, args.output)
    if args.render_only:
        run = json.loads(outputs.record.read_text())
    else:
        try:
            names = selected(args.only)
        except ValueError as exc:
            parser.error(str(exc))
        plan = [b for b in planned_benchmarks(outputs, args.quick, args.retrieval_data) if b.name in names]
        time_limit = 60 * (args.time_limit_minutes or (30 if args.quick else 120))
        signal.signal(signal.SIGTERM, stop_on_sigterm)  # stopping the run stops the benchmark it is in
        run = run_all(plan, outputs, args.quick, time_limit)
    documents = read_documents(run)
    draw_load_plot(documents, outputs)
    if not args.render_only:  # the plots this run made, kept so the page can be written again the same
        run["images"] = fresh_images(run, outputs)
        outputs.record.write_text(json.dumps(run, indent=2) + "\n")
    page = render_page(run, documents, run.get("images", {}))
    outputs.page.parent.mkdir(parents=True, exist_ok=True)
    outputs.page.write_text(page.markdown)
    print_summary(run, page.failed, outputs.page)
    sys.exit(1 if page.failed else 0)


if __name__ == "__main__":
    main()
