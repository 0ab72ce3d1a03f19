"""Step 2 of answering: requests in flight per key, and token reservations settled however a request ends."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tutorbook_gateway.chat.admission import AdmissionCheck, InFlight
from tutorbook_gateway.chat.config import ClaimCheckConfig
from tutorbook_gateway.chat.generation import CheckedGeneration, RelayedStream, WholeAnswer
from tutorbook_gateway.state.memory import MemoryBackend
from tutorbook_gateway.state.rate_limits import Limits, RateLimiter
from tutorbook_service.errors import RateLimitedError


def test_a_key_may_have_only_so_many_requests_in_flight() -> None:
    in_flight = InFlight(max_per_key=2)
    in_flight.enter("a")
    in_flight.enter("a")
    in_flight.enter("b")  # another key is not affected
    with pytest.raises(RateLimitedError) as refused:
        in_flight.enter("a")
    assert refused.value.status_code == 429 and refused.value.headers["Retry-After"] == "1"
    assert "2 requests in flight at once" in refused.value.message
    in_flight.leave("a")
    in_flight.enter("a")  # one left: room again


async def test_an_abandoned_request_is_charged_what_it_used_and_leaves_the_count() -> None:
    limiter = RateLimiter(MemoryBackend(), Limits(tokens_per_minute=1000), {}, True, lease_seconds=0)
    in_flight = InFlight(max_per_key=1)
    check = AdmissionCheck(limiter, in_flight, "k", prompt_tokens=100, max_tokens=500)
    await check.gate(done())  # admitted: 600 reserved
    check.release(used_tokens=150)  # the client went away after 50 tokens: 450 come back
    check.release(used_tokens=150)  # settling twice changes nothing
    second = AdmissionCheck(limiter, in_flight, "k", prompt_tokens=100, max_tokens=500)  # in flight again: room
    await second.gate(done())  # 1000 - 150 = 850 left: 600 fit
    second.release(used_tokens=0)  # failed before generating: all 600 come back
    assert await limiter.admit("k", 800) == 800  # 850 left: the 150 used stay spent
    with pytest.raises(RateLimitedError, match="tokens"):
        await limiter.admit("k", 100)


async def done() -> WholeAnswer:
    return WholeAnswer("ok")


class RefusingLimiter:
    """The key's budget is spent: nothing is admitted from the lease, and the store's check refuses after
    ``seconds`` (a Redis round trip)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def reservation(self, owner: str, tokens: int) -> int:
        return tokens

    def admit_from_lease(self, owner: str, reserve: int = 0) -> bool:
        return False

    async def admit(self, owner: str, reserve: int = 0) -> int:
        await asyncio.sleep(self.seconds)
        raise RateLimitedError("tokens", 100, 30)

    def settle(self, owner: str, reserved: int, used: int) -> None:
        raise AssertionError("a refused request reserved nothing")


@dataclass
class RecordedAnswer(WholeAnswer):
    closed: asyncio.Event = field(default_factory=asyncio.Event)  # set when it is closed

    async def aclose(self) -> None:
        self.closed.set()


async def test_a_429_cancels_a_generation_still_running() -> None:
    """The check runs beside generation; its refusal cancels the generation (closing the upstream request
    is what aborts it in vLLM), and the caller gets the 429."""
    cancelled = asyncio.Event()

    async def slow_generation() -> WholeAnswer:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return WholeAnswer("never")

    check = AdmissionCheck(RefusingLimiter(0.01), InFlight(4), "k", 10, 10)
    with pytest.raises(RateLimitedError):
        await check.gate(slow_generation())
    await asyncio.wait_for(cancelled.wait(), 1)
    check.release(used_tokens=0)


async def test_a_429_closes_a_generation_that_finished_first() -> None:
    answer = RecordedAnswer("generated before the refusal")

    async def quick_generation() -> WholeAnswer:
        return answer

    check = AdmissionCheck(RefusingLimiter(0.05), InFlight(4), "k", 10, 10)
    with pytest.raises(RateLimitedError):
        await check.gate(quick_generation())
    # Its slot and its vLLM request are given back, never read: closed soon after the refusal.
    await asyncio.wait_for(answer.closed.wait(), 1)
    check.release(used_tokens=0)


class StillGenerating:
    """vLLM's stream of an answer: ``pieces`` tokens so far, no usage yet, more to come."""

    def __init__(self, pieces: int) -> None:
        self.count = pieces
        self.sent = 0
        self.all_sent = asyncio.Event()
        self.closed = False

    async def chunks(self) -> AsyncIterator[dict[str, Any]]:
        for _ in range(self.count):
            self.sent += 1
            yield {"choices": [{"delta": {"content": " word"}}]}
        self.all_sent.set()
        await asyncio.Event().wait()  # the rest is still being generated

    async def aclose(self) -> None:
        self.closed = True


async def test_a_withheld_answer_dropped_before_its_claim_check_is_charged_what_vllm_generated() -> None:
    """Under ``withhold`` nothing leaves before the check: a client gone by then received nothing, but vLLM
    generated for it, and the key pays for that."""
    limiter = RateLimiter(MemoryBackend(), Limits(tokens_per_minute=1000), {}, True, lease_seconds=0)
    check = AdmissionCheck(limiter, InFlight(max_per_key=1), "k", prompt_tokens=100, max_tokens=500)
    upstream = StillGenerating(40)
    generation = CheckedGeneration(RelayedStream(upstream, 0.0), [], [], None, ClaimCheckConfig(), stream=True)  # type: ignore[arg-type]
    await check.gate(done())
    reading = asyncio.ensure_future(anext(aiter(generation.pieces())))
    await upstream.all_sent.wait()
    reading.cancel()  # the client leaves
    await generation.aclose()
    check.release_answer(generation.usage, [], generation.generated_pieces, cached=False)
    assert upstream.closed and generation.generated_pieces == 40
    assert await limiter.admit("k", 860) == 860  # 1000 - (100 prompt + 40 generated) left, no more
    with pytest.raises(RateLimitedError, match="tokens"):
        await limiter.admit("k", 1)
