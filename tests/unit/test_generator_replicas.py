"""Generation over two replicas balanced by the gateway: turns alternate; a dead replica is set aside and
its requests answered by the other, with nothing lost; it is tried again after a while; a replica that does
not serve an adapter is skipped for that request only; when all fail, the client gets the failure."""

from typing import Any

import pytest

from tests.unit.fakes import FakeGenerator
from tutorbook_gateway.clients.replicas import BalancedGenerator, Replica
from tutorbook_gateway.clients.upstream import ModelNotServedError, UpstreamUnreachableError


class Replicated(FakeGenerator):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.failure: Exception | None = None

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.failure is not None:
            raise self.failure
        return {**await super().chat_completion(payload), "id": self.name}

    async def ping(self) -> None:
        if self.failure is not None:
            raise ConnectionRefusedError(self.name)


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def balanced(clock: Clock | None = None) -> tuple[BalancedGenerator, Replicated, Replicated, list[tuple[str, str]]]:
    first, second = Replicated("a"), Replicated("b")
    skips: list[tuple[str, str]] = []
    replicas = [Replica("http://a", first), Replica("http://b", second)]
    generator = BalancedGenerator(replicas, 10.0, lambda url, why: skips.append((url, why)), clock or Clock())
    return generator, first, second, skips


async def answered_by(generator: BalancedGenerator, model: str = "base") -> str:
    return str((await generator.chat_completion({"model": model}))["id"])


async def test_turns_alternate_between_healthy_replicas_whatever_the_probes_do() -> None:
    generator, *_ = balanced()
    answered = []
    for _ in range(4):
        answered.append(await answered_by(generator))
        await generator.ping()  # readiness probes and model listings take no turn
        await generator.list_models()
        await generator.list_models()
    assert answered == ["a", "b", "a", "b"]


async def test_a_dead_replica_is_set_aside_and_tried_again_later() -> None:
    clock = Clock()
    generator, first, _, skips = balanced(clock)
    first.failure = UpstreamUnreachableError("generator", "connection refused")
    assert [await answered_by(generator) for _ in range(4)] == ["b", "b", "b", "b"]
    assert skips == [("http://a", "upstream_unavailable")]  # set aside after the first refusal
    first.failure = None
    clock.now += 11
    assert {await answered_by(generator) for _ in range(2)} == {"a", "b"}


async def test_a_replica_without_the_adapter_is_skipped_for_that_request_only() -> None:
    generator, first, _, skips = balanced()
    first.failure = ModelNotServedError("triage@3", "The model `triage@3` does not exist.")
    assert await answered_by(generator, "triage@3") == "b"
    first.failure = None
    assert sorted([await answered_by(generator) for _ in range(2)]) == ["a", "b"]  # not set aside
    assert skips == [("http://a", "model_not_served")]


async def test_when_every_replica_fails_the_client_gets_the_failure() -> None:
    generator, first, second, _ = balanced()
    first.failure = second.failure = UpstreamUnreachableError("generator", "connection refused")
    with pytest.raises(UpstreamUnreachableError):
        await answered_by(generator)


async def test_ready_while_any_replica_is() -> None:
    generator, first, second, _ = balanced()
    first.failure = RuntimeError("down")
    await generator.ping()
    second.failure = RuntimeError("down")
    with pytest.raises(ConnectionRefusedError):
        await generator.ping()
