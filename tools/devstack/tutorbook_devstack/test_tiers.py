"""``python -m tutorbook_devstack.test_tiers`` (``make test``): every test tier, the unit and integration
tiers beside the e2e tier.

The e2e tier spends most of its time waiting on vLLM, which the CPU backend binds to one core; the unit
and integration tiers (and the e2e test of ``make run``, which needs no shared stack) run on what is left,
in a pytest process of their own. Each process's output goes
to its own log under ``data/test-logs/`` and is printed whole when it ends, so the two never interleave;
then the time each tier took. The exit code is non-zero when either process failed.
"""

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

LOG_DIR = Path("data/test-logs")
# `make run` from an empty folder starts a stack of its own (the e2e tier's shared stack is not involved):
# it runs beside the e2e tier too.
ALONE = "tests/e2e/test_make_run.py"
GROUPS = {
    "unit+integration": ["tests/unit", "tests/integration", ALONE],
    "e2e": ["tests/e2e", f"--ignore={ALONE}"],
}
HEARTBEAT_SECONDS = 60.0


@dataclass
class Run:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    timings: Path
    started: float
    seconds: float | None = None


def start(name: str, paths: list[str], extra: list[str]) -> Run:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log, timings = LOG_DIR / f"{name}.log", LOG_DIR / f"{name}.timings.json"
    timings.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", *paths, f"--tier-timings={timings}", *extra]
    # `make test` installed Chromium and its driver (scripts/install.sh): a missing browser fails the page's
    # tests instead of skipping them (tests/e2e/browser.py); `make e2e` alone still skips them without it.
    env = dict(os.environ, REQUIRE_BROWSER="1")
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    return Run(name, process, log, timings, time.monotonic())


def wait_all(runs: list[Run]) -> None:
    """Until every run has ended; each one's log is printed as it ends, with a line a minute meanwhile."""
    last_heartbeat = time.monotonic()
    while any(run.seconds is None for run in runs):
        for run in runs:
            if run.seconds is None and run.process.poll() is not None:
                run.seconds = time.monotonic() - run.started
                print(run.log.read_text(errors="replace"), flush=True)
        if time.monotonic() - last_heartbeat >= HEARTBEAT_SECONDS:
            running = [f"{run.name} ({time.monotonic() - run.started:.0f} s)" for run in runs if run.seconds is None]
            print("still running:", ", ".join(running), flush=True)
            last_heartbeat = time.monotonic()
        time.sleep(1)


def summary(runs: list[Run], wall_seconds: float) -> list[str]:
    lines = ["", "== time by tier (unit and integration beside e2e)", f"{'tier':<12} {'tests':>5} {'seconds':>9}"]
    for run in runs:
        tiers = json.loads(run.timings.read_text()) if run.timings.is_file() else {}
        for tier, figures in tiers.items():
            if figures["tests"]:
                lines.append(f"{tier:<12} {figures['tests']:>5} {figures['seconds']:>9.1f}")
        outcome = "passed" if run.process.returncode == 0 else f"FAILED (exit {run.process.returncode})"
        lines.append(f"  {run.name}: {run.seconds or 0:.1f} s, {outcome}")
    return [*lines, f"{'all':<12} {'':>5} {wall_seconds:>9.1f}  (wall clock)"]


def main() -> None:
    extra = sys.argv[1:]
    started = time.monotonic()
    runs = [start(name, paths, extra) for name, paths in GROUPS.items()]
    try:
        wait_all(runs)
    except KeyboardInterrupt:
        for run in runs:
            run.process.terminate()
        raise
    print("\n".join(summary(runs, time.monotonic() - started)), flush=True)
    sys.exit(0 if all(run.process.returncode == 0 for run in runs) else 1)


if __name__ == "__main__":
    main()
