"""Send the mix at a fixed concurrency for a bounded time and count, one key per virtual user (each a
product app), and record what every request got."""

import asyncio
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from tutorbook_devstack.load.mix import MIX, MixSources, PlannedRequest, plan_request

FIRST_TEXT = re.compile(rb'"content":\s*"[^"]')
# Longer than the gateway's own upstream timeout: a request that waits this long between two reads hangs.
CLIENT_TIMEOUT_SECONDS = 150.0


@dataclass(frozen=True)
class Outcome:
    kind: str
    status: int  # 0: no HTTP answer (connection dropped, or no answer within the client's timeout)
    started: float  # seconds since the level began
    milliseconds: float
    first_token_milliseconds: float  # a stream's first piece of text (its first event is the route decision)
    retry_after: float | None  # seconds, when the answer said when to retry
    complete: bool  # a 200 whose body (or stream, up to [DONE]) arrived whole
    detail: str = ""
    cache: str = ""  # x-tutorbook-cache: hit, miss, ...

    @property
    def label(self) -> str:
        """The kind, except that a repeated question the cache did not answer yet is told apart."""
        if self.kind == "cache_hit" and self.cache != "hit":
            return "repeat_miss"
        return self.kind


@dataclass(frozen=True)
class Level:
    concurrency: int
    seconds: float
    max_requests: int


class UserPlan:
    """The requests one virtual user sends, in order: the first of the mix's kind ``number % len(mix)``
    (every kind from the start), then each drawn from the mix with the user's own seeded random numbers.
    The same seed and number give the same kinds (the capacity model replays them)."""

    def __init__(self, sources: MixSources, seed: int, number: int, mix: Mapping[str, float] = MIX) -> None:
        self.sources, self.seed, self.mix = sources, seed, mix
        self.rng = random.Random(seed * 1000 + number)
        self.first_kind: str | None = list(mix)[number % len(mix)]

    def next(self, serial: int) -> PlannedRequest:
        planned = plan_request(self.sources, self.rng, self.seed * 1_000_000 + serial, self.first_kind, self.mix)
        self.first_kind = None
        return planned


async def send(client: httpx.AsyncClient, key: str, planned: PlannedRequest, level_start: float) -> Outcome:
    started = time.perf_counter()
    headers = {"authorization": f"Bearer {key}"}
    first_token = 0.0
    try:
        async with client.stream("POST", "/v1/chat/completions", json=planned.body, headers=headers) as response:
            chunks: list[bytes] = []
            async for chunk in response.aiter_bytes():
                if not first_token and (not planned.stream or FIRST_TEXT.search(chunk)):
                    first_token = time.perf_counter()
                chunks.append(chunk)
            body = b"".join(chunks)
    except httpx.HTTPError as error:
        elapsed = (time.perf_counter() - started) * 1000
        return Outcome(planned.kind, 0, started - level_start, elapsed, elapsed, None, False, repr(error))
    finished = time.perf_counter()
    return Outcome(
        kind=planned.kind,
        status=response.status_code,
        started=started - level_start,
        milliseconds=(finished - started) * 1000,
        first_token_milliseconds=((first_token or finished) - started) * 1000,
        retry_after=retry_after_seconds(response.headers.get("retry-after")),
        complete=response.status_code == 200 and answered_whole(body, planned.stream),
        detail="" if response.status_code == 200 else body[:300].decode(errors="replace"),
        cache=response.headers.get("x-tutorbook-cache", ""),
    )


def retry_after_seconds(value: str | None) -> float | None:
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None


def answered_whole(body: bytes, stream: bool) -> bool:
    if not stream:
        return body.startswith(b"{") and b'"choices"' in body
    events = [line for line in body.splitlines() if line.startswith(b"data: ")]
    return bool(events) and events[-1] == b"data: [DONE]" and not any(b'"error"' in e for e in events)


async def run_level(
    gateway_url: str, keys: list[str], sources: MixSources, level: Level, seed: int = 0, mix: Mapping[str, float] = MIX
) -> list[Outcome]:
    """``level.concurrency`` virtual users, each sending requests of ``mix`` one after another until the
    time or the count is used up (after a refusal, waiting as long as its ``Retry-After`` says); every
    request started is waited for."""
    outcomes: list[Outcome] = []
    budget = iter(range(level.max_requests))
    level_start = time.perf_counter()
    deadline = level_start + level.seconds
    limits = httpx.Limits(max_connections=level.concurrency, max_keepalive_connections=level.concurrency)

    async def user(number: int, client: httpx.AsyncClient) -> None:
        plan, key = UserPlan(sources, seed, number, mix), keys[number % len(keys)]
        while time.perf_counter() < deadline and (serial := next(budget, None)) is not None:
            outcome = await send(client, key, plan.next(serial), level_start)
            outcomes.append(outcome)
            if outcome.retry_after is not None:  # as the OpenAI SDKs do
                await asyncio.sleep(min(outcome.retry_after, max(0.0, deadline - time.perf_counter())))

    async with httpx.AsyncClient(base_url=gateway_url, timeout=CLIENT_TIMEOUT_SECONDS, limits=limits) as client:
        await asyncio.gather(*(user(number, client) for number in range(level.concurrency)))
    return outcomes
