"""``make ha-check``: Redis Sentinel's failover under traffic, on the real stack (gateway, retriever, vLLM)
and a real primary, replica and three sentinels. Chat requests and key writes run from several clients;
the primary is killed with SIGKILL; traffic goes on through the promotion and after it, and the killed
server is started again (empty), as an orchestrator would, to rejoin as the new primary's replica.
Prints requests sent, 5xx on chat, key writes refused (503 while no primary, or no replica, could take
them: never acknowledged), acknowledged writes lost (keys the API answered 201 for that no longer work)
and the seconds a client of the sentinels could not write; writes ``data/bench/ha-check.json``. Exits 1
on a chat 5xx, an unanswered request or a lost acknowledged write. Key writes wait for a replica
(``TUTORBOOK_GATEWAY_KEYS__RECORDS_REPLICAS=1``), as docs/state.md advises behind Sentinel."""

import argparse
import collections
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from tutorbook_devstack.bench_report import write_results
from tutorbook_devstack.sentinels import MASTER, SentinelGroup, wait_for
from tutorbook_devstack.stack import StackConfig, ingest_folder, running_stack
from tutorbook_service.redis_clients import sync_redis

USER, ADMIN = "ha-check-user-key-0123456789", "ha-check-admin-key-0123456789"
SAMPLES = Path(__file__).resolve().parents[3] / "samples" / "knowledge_base"
QUESTIONS = ["What does the warranty cover?", "How do I return a product?", "How long is the warranty?"]
KEY_EVERY = 4  # every fourth request of a client makes a key
PROBE_SECONDS = 0.05
DOWN_AFTER_MS = 3000  # vLLM generating on the same 2 cores must not read as a dead primary


@dataclass
class Tally:
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    keys: list[str] = field(default_factory=list)  # secrets of the keys answered 201
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, status: str, key: str | None = None) -> None:
        with self.lock:
            self.statuses[status] += 1
            if key is not None:
                self.keys.append(key)


def client_loop(url: str, number: int, stop: threading.Event, tally: Tally) -> None:
    """One client: chat questions (a session each) and, every KEY_EVERY requests, a key made."""
    with httpx.Client(base_url=url, timeout=120) as client:
        sent = 0
        while not stop.is_set():
            sent += 1
            try:
                if sent % KEY_EVERY == 0:
                    response = client.post(
                        "/v1/admin/keys", json={"name": f"ha-{number}-{sent}"}, headers=bearer(ADMIN)
                    )
                    made = response.json().get("key") if response.status_code == 201 else None
                    tally.count(f"key {response.status_code}", made)
                    continue
                body = {"model": "auto", "max_tokens": 16, "temperature": 0,
                        "messages": [{"role": "user", "content": QUESTIONS[sent % len(QUESTIONS)]}]}  # fmt: skip
                headers = {**bearer(USER), "x-tutorbook-session": f"ha-{number}"}
                tally.count(f"chat {client.post('/v1/chat/completions', json=body, headers=headers).status_code}")
            except httpx.HTTPError as exc:
                tally.count(f"no answer ({type(exc).__name__})")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def probe_loop(group: SentinelGroup, stop: threading.Event, outcomes: list[tuple[float, bool]]) -> None:
    """A client of the sentinels writing every 50 ms: when it could not (the seconds without Redis)."""
    client = sync_redis(group.target, timeout_seconds=0.2)
    while not stop.is_set():
        try:
            client.set("ha-check:probe", time.time())
            outcomes.append((time.monotonic(), True))
        except (redis.RedisError, OSError):
            outcomes.append((time.monotonic(), False))
        time.sleep(PROBE_SECONDS)


def seconds_without_redis(outcomes: list[tuple[float, bool]], killed_at: float) -> float:
    after = [(at, ok) for at, ok in outcomes if at >= killed_at]
    first_failure = next((at for at, ok in after if not ok), None)
    if first_failure is None:
        return 0.0
    back = next((at for at, ok in after if ok and at > first_failure), after[-1][0])
    return back - killed_at


def lost_keys(url: str, keys: list[str]) -> int:
    """Keys answered 201 that do not work once every gateway has read the records again."""
    time.sleep(1.0)  # the directory reads the records every 0.25 s
    with httpx.Client(base_url=url, timeout=30) as client:
        return sum(client.get("/v1/me", headers=bearer(key)).status_code != 200 for key in keys)


def stack_config(data_dir: Path, group: SentinelGroup) -> StackConfig:
    sentinel_env = {
        "TUTORBOOK_REDIS_URL": "",
        "TUTORBOOK_REDIS_SENTINELS": group.sentinels_setting,
        "TUTORBOOK_REDIS_SENTINEL_MASTER": MASTER,
        "TUTORBOOK_GATEWAY_KEYS__RECORDS_REDIS_URL": "",  # the records behind Sentinel too
        "TUTORBOOK_GATEWAY_KEYS__RECORDS_REPLICAS": "1",
        "TUTORBOOK_RETRIEVER_INGEST__VERSION_REPLICAS": "1",
        "TUTORBOOK_GATEWAY_LIMITS__REQUESTS_PER_MINUTE": "1000000",
        "TUTORBOOK_GATEWAY_KEYS__MAX_KEYS": "100000",
    }
    return StackConfig(
        data_dir=data_dir, api_keys=(USER,), admin_keys=(ADMIN,), model_cache_dir=Path("data/models").resolve(),
        gateway_port=18520, retriever_port=18521, generator_port=18522, redis_port=18523, redis_persistent=False,
        extra_env=sentinel_env,
    )  # fmt: skip


def run(clients: int, before: float, after: float, folder: Path) -> dict[str, Any]:
    group = SentinelGroup(folder / "sentinel", down_after_ms=DOWN_AFTER_MS)
    stop, tally = threading.Event(), Tally()
    outcomes: list[tuple[float, bool]] = []
    try:
        group.start()
        with running_stack(stack_config(folder / "stack", group)) as stack:
            url = stack.config.gateway_url
            ingest_folder(url, ADMIN, SAMPLES)
            threads = [threading.Thread(target=client_loop, args=(url, n, stop, tally)) for n in range(clients)]
            threads.append(threading.Thread(target=probe_loop, args=(group, stop, outcomes)))
            for thread in threads:
                thread.start()
            time.sleep(before)
            killed_at = time.monotonic()
            group.kill_primary()
            failover = wait_for(group.failed_over, 60, "the sentinels promoting the replica")
            group.restart_old_primary()  # as an orchestrator would: key writes wait for a replica again
            rejoined = time.monotonic() - killed_at
            time.sleep(after)
            stop.set()
            for thread in threads:
                thread.join()
            lost = lost_keys(url, tally.keys)
    finally:
        stop.set()
        group.stop()
    five_xx = sum(count for status, count in tally.statuses.items() if status.startswith(("chat 5", "no answer")))
    refused_writes = sum(count for status, count in tally.statuses.items() if status.startswith("key 5"))
    return {
        "clients": clients, "requests": sum(tally.statuses.values()), "statuses": dict(tally.statuses),
        "five_xx": five_xx, "keys_acknowledged": len(tally.keys), "acknowledged_writes_lost": lost,
        "key_writes_refused": refused_writes,
        "failover_seconds": round(failover, 2), "replica_back_seconds": round(rejoined, 2),
        "seconds_without_redis": round(seconds_without_redis(outcomes, killed_at), 2),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tutorbook_devstack.ha_check", description=__doc__)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--before", type=float, default=10.0, help="seconds of traffic before the kill")
    parser.add_argument("--after", type=float, default=15.0, help="seconds of traffic after the promotion")
    parser.add_argument("--json", type=Path, default=None, help="default: data/bench/ha-check.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tutorbook-ha-") as tmp:
        figures = run(args.clients, args.before, args.after, Path(tmp))
    print(f"requests sent            {figures['requests']}  ({figures['statuses']})")
    print(f"5xx or no answer on chat {figures['five_xx']}")
    print(f"key writes refused (503) {figures['key_writes_refused']}  (not acknowledged: the client retries)")
    print(f"acknowledged writes lost {figures['acknowledged_writes_lost']} of {figures['keys_acknowledged']} keys")
    promoted = f"(promoted after {figures['failover_seconds']} s)"
    print(f"seconds without Redis    {figures['seconds_without_redis']}  {promoted}")
    print(f"wrote {write_results('ha-check', figures, args.json)}")
    raise SystemExit(1 if figures["five_xx"] or figures["acknowledged_writes_lost"] else 0)


if __name__ == "__main__":
    main()
