"""``python -m tutorbook_devstack.bench_adapter``: from an adapter upload to the first answer through it, on
the real stack.

Trains the tiny support-triage adapter once (about 20 s, before the stack starts; or takes
``--adapter-folder``), starts the stack (ports 18300-18303, temporary data), then ``--rounds`` times:
uploads it as a new version (validated, stored, hot-loaded into vLLM, its route examples taught to the
router: the upload request), asks a new question through it by name (``"model": name``) until an answer
comes from that version (the first answer), then asks once more (a warm answer, for comparison). Prints
each round, the medians and the ratios; writes JSON (``data/bench/adapter.json``).
"""

import argparse
import signal
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from tutorbook_devstack.__main__ import stop_on_sigterm
from tutorbook_devstack.bench_report import write_results
from tutorbook_devstack.load.adapter import train_tiny
from tutorbook_devstack.stack import StackConfig, running_stack

KEY = "bench-key-0123456789"
ADMIN = "bench-admin-0123456789"
ADAPTER_NAME = "bench-triage"
SAMPLES = Path(__file__).resolve().parents[3] / "samples"
TICKET = "I was charged twice for my order"
FIRST_ANSWER_TIMEOUT_SECONDS = 120.0
# What each round reports (milliseconds), as printed.
COLUMNS = {
    "upload_ms": "upload",
    "first_answer_ms": "first answer",
    "upload_to_first_answer_ms": "upload to answer",
    "warm_answer_ms": "warm answer",
}


class NoAnswerError(RuntimeError):
    """The new version gave no answer in time, or the upload was not activated."""


@dataclass(frozen=True)
class Round:
    version: int
    upload_ms: float  # the upload request alone: validate, store, hot-load, teach the router
    first_answer_ms: float  # from the upload's response to the first answer through the new version
    attempts: int  # chat requests until that answer (1: the first one was it)
    warm_answer_ms: float  # the next answer through it, once loaded and used

    @property
    def upload_to_first_answer_ms(self) -> float:
        return self.upload_ms + self.first_answer_ms


def chat(client: httpx.Client, model: str, text: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 12}
    return client.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"})


def answered_by(response: httpx.Response, version: int) -> bool:
    if response.status_code != 200:
        return False
    adapter = response.json().get("tutorbook", {}).get("adapter") or {}
    return bool(adapter.get("version") == version)


def upload(client: httpx.Client, archive: bytes) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = client.post(
        "/v1/adapters", files={"file": ("adapter.tar.gz", archive)}, headers={"authorization": f"Bearer {ADMIN}"}
    )
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    if not body.get("activated"):
        raise NoAnswerError(f"the upload was stored but not activated: {body}")
    return elapsed, body


def first_answer(client: httpx.Client, name: str, version: int, question: str) -> tuple[float, int]:
    """Milliseconds until a chat request naming the adapter is answered by ``version``, and the requests sent."""
    started = time.perf_counter()
    deadline = started + FIRST_ANSWER_TIMEOUT_SECONDS
    attempts = 0
    while time.perf_counter() < deadline:
        attempts += 1
        response = chat(client, name, f"{question} (attempt {attempts})")
        if answered_by(response, version):
            return (time.perf_counter() - started) * 1000, attempts
        time.sleep(0.05)
    raise NoAnswerError(f"no answer from {name} version {version} in {FIRST_ANSWER_TIMEOUT_SECONDS:.0f} s")


def measure_round(client: httpx.Client, archive: bytes, round_number: int) -> Round:
    upload_ms, uploaded = upload(client, archive)
    name, version = str(uploaded["name"]), int(uploaded["version"])
    first_ms, attempts = first_answer(client, name, version, f"{TICKET} (round {round_number})")
    started = time.perf_counter()
    warm = chat(client, name, f"{TICKET} again (round {round_number})")
    warm_ms = (time.perf_counter() - started) * 1000
    if not answered_by(warm, version):
        raise NoAnswerError(f"the warm answer did not come from version {version}: {warm.text[:300]}")
    return Round(version, upload_ms, first_ms, attempts, warm_ms)


def report(rounds: list[Round]) -> dict[str, Any]:
    print(f"\n{'round (version)':<18}" + "".join(f"{heading + ' ms':>22}" for heading in COLUMNS.values()))
    for number, row in enumerate(rounds, 1):
        print(f"{f'{number} (v{row.version})':<18}" + "".join(f"{getattr(row, c):>22.0f}" for c in COLUMNS))
    median = {column: statistics.median(getattr(row, column) for row in rounds) for column in COLUMNS}
    print(f"{'median':<18}" + "".join(f"{median[column]:>22.0f}" for column in COLUMNS))
    first_over_warm = median["first_answer_ms"] / median["warm_answer_ms"]
    upload_share = median["upload_ms"] / median["upload_to_first_answer_ms"]
    print(f"the first answer takes {first_over_warm:.2f}x a warm one; the upload is {upload_share:.0%} of the wait")
    return {
        "rounds": [{**asdict(row), "upload_to_first_answer_ms": row.upload_to_first_answer_ms} for row in rounds],
        "median_ms": median,
        "first_over_warm_answer": first_over_warm,
        "upload_share_of_wait": upload_share,
    }


def stack_config(data_dir: Path) -> StackConfig:
    return StackConfig(
        data_dir=data_dir, api_keys=(KEY,), admin_keys=(ADMIN,), model_cache_dir=Path("data/models").resolve(),
        gateway_port=18300, retriever_port=18301, generator_port=18302, redis_port=18303, redis_persistent=False,
    )  # fmt: skip


def measure_own_stack(adapter_folder: Path, rounds: int, data_dir: Path) -> dict[str, Any]:
    from tutorbook_training.upload import pack

    archive = pack(adapter_folder)
    signal.signal(signal.SIGTERM, stop_on_sigterm)  # a killed benchmark still stops its stack
    print("starting the stack ...", flush=True)
    with (
        running_stack(stack_config(data_dir)) as stack,
        httpx.Client(base_url=stack.config.gateway_url, timeout=300) as client,
    ):
        measured = [measure_round(client, archive, number) for number in range(1, rounds + 1)]
    return report(measured)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tutorbook_devstack.bench_adapter", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="uploads of a new version, each timed to its answer")
    parser.add_argument("--adapter-folder", type=Path, help="an adapter to upload (default: train the tiny one)")
    parser.add_argument("--json", type=Path, help="where the figures go (default data/bench/adapter.json)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    with tempfile.TemporaryDirectory(prefix="tutorbook-bench-adapter-") as tmp:
        folder = args.adapter_folder
        if folder is None:
            folder = Path(tmp) / "adapter"
            print("training the tiny support-triage adapter ...", flush=True)
            train_tiny(SAMPLES, folder, ADAPTER_NAME)
        figures = measure_own_stack(folder, args.rounds, Path(tmp) / "stack")
    print(f"figures: {write_results('adapter', figures, args.json)}")


if __name__ == "__main__":
    main()
