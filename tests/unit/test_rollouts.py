"""Rollouts without HTTP: which conversations the canary takes (stably), how a rollout is started and
steered, and that two gateway replicas judging the same evidence make one decision, not two."""

import asyncio
from typing import Any

import msgspec
import pytest

from tests.unit.fakes import TRIAGE_CARD, chat
from tutorbook_adapter_format.card import AdapterCard
from tutorbook_config.service_settings import configured
from tutorbook_gateway.access.audit import AuditLog
from tutorbook_gateway.access.directory import Caller
from tutorbook_gateway.access.model import Scope
from tutorbook_gateway.access.records import MemoryRecords
from tutorbook_gateway.adapters.catalog import ActiveAdapter, AdapterHealth
from tutorbook_gateway.chat.request import ChatCall, ChatRequest, adapter_snapshot, parse_chat
from tutorbook_gateway.clients.capacity import Capacity, GenerationSlots
from tutorbook_gateway.metrics import create_gateway_metrics
from tutorbook_gateway.rollouts.board import RolloutBoard, record_key
from tutorbook_gateway.rollouts.canary import with_canary
from tutorbook_gateway.rollouts.comparing import Comparison, Comparisons
from tutorbook_gateway.rollouts.control import RolloutControl
from tutorbook_gateway.rollouts.evidence import Compared, Served
from tutorbook_gateway.rollouts.model import Action, Criteria, Rollout, RolloutStart, State
from tutorbook_gateway.schemas import ChatCompletionRequest
from tutorbook_gateway.settings import GatewaySettings
from tutorbook_gateway.state.backend import StateBackend
from tutorbook_gateway.state.memory import MemoryBackend
from tutorbook_gateway.wiring import chat_config
from tutorbook_service.errors import BadRequestError, ConflictError, NotFoundError

CALLER = Caller("key-ml", "default", frozenset(Scope))
CONFIG = chat_config(configured(GatewaySettings, shared__base_model_name="base"))


class Catalog:
    def __init__(self, active: dict[str, ActiveAdapter]) -> None:
        self._active = active

    def active(self) -> dict[str, ActiveAdapter]:
        return self._active

    def has_version(self, name: str, version: int) -> bool:
        return True

    def embedding_classifier(self, name: str, version: int) -> None:
        return None


class Versions:
    """The adapter store as rollouts see it, and the activations a promotion makes."""

    def __init__(
        self, cards: dict[int, AdapterCard] | None = None, active: int = 1, others: list[str] | None = None
    ) -> None:
        self.cards = cards or {1: TRIAGE_CARD, 2: TRIAGE_CARD}
        self.others = others or []  # adapters listed before triage
        self.active = active
        self.activated: list[int] = []
        self.prepared: list[int] = []
        self.retired: list[int] = []

    def names(self) -> list[str]:
        return [*self.others, "triage"]

    def versions(self, name: str) -> list[int]:
        return sorted(self.cards)

    def active_version(self, name: str) -> int | None:
        return self.active

    def card(self, name: str, version: int) -> AdapterCard:
        if version not in self.cards:
            raise NotFoundError("no such version")
        return self.cards[version]

    async def prepare(self, name: str, version: int) -> None:
        self.prepared.append(version)

    async def retire(self, name: str, version: int) -> None:
        self.retired.append(version)

    async def activate(self, name: str, version: int) -> list[dict[str, Any]]:
        await asyncio.sleep(0.01)  # the other replica gets its turn meanwhile
        self.activated.append(version)
        self.active = version
        return []


def request(question: str, session: str | None = None, model: str = "auto") -> ChatRequest:
    body = msgspec.convert(chat(question, model=model), ChatCompletionRequest)
    snapshot = adapter_snapshot(Catalog({"triage": ActiveAdapter(TRIAGE_CARD, 1)}), AdapterHealth())
    return parse_chat(ChatCall(body, CALLER, session), CONFIG, snapshot)


def rollout(canary: float = 0.3, state: State = State.RUNNING) -> Rollout:
    return Rollout(
        id="r1", name="triage", active_version=1, candidate_version=2, task_type="classifier",
        shadow_fraction=0.0, canary_fraction=canary, criteria=Criteria(), state=state,
    )  # fmt: skip


def version_of(chat_request: ChatRequest, rollouts: dict[str, Rollout]) -> int:
    canaried = with_canary(chat_request, rollouts, Versions().card, AdapterHealth())
    return canaried.adapters.states["triage"].version


def test_the_canary_takes_its_share_of_conversations_and_each_keeps_its_version() -> None:
    rollouts = {"triage": rollout(canary=0.3)}
    versions = [version_of(request("hello", session=f"s{n}"), rollouts) for n in range(1000)]
    assert 250 < versions.count(2) < 350  # 30% of conversations, within sampling error
    for n in range(20):  # the same conversation, asked again with more turns: the same version
        assert {version_of(request(f"turn {turn}", session=f"s{n}"), rollouts) for turn in range(5)} == {versions[n]}


def test_without_a_session_a_conversation_is_its_first_question() -> None:
    rollouts = {"triage": rollout(canary=0.5)}
    first = [version_of(request(f"question {n}"), rollouts) for n in range(200)]
    assert 1 in first and 2 in first
    body = msgspec.convert(
        {"model": "auto", "messages": [{"role": "user", "content": "question 7"}, {"role": "assistant",
         "content": "billing"}, {"role": "user", "content": "and now?"}]}, ChatCompletionRequest
    )  # fmt: skip
    snapshot = adapter_snapshot(Catalog({"triage": ActiveAdapter(TRIAGE_CARD, 1)}), AdapterHealth())
    later = parse_chat(ChatCall(body, CALLER), CONFIG, snapshot)
    assert version_of(later, rollouts) == first[7]


def test_a_paused_rollout_and_a_pinned_version_get_no_canary() -> None:
    assert version_of(request("hello", "s1"), {"triage": rollout(canary=1.0, state=State.PAUSED)}) == 1
    pinned = with_canary(
        request("hello", "s1", model="triage@1"), {"triage": rollout(1.0)}, Versions().card, AdapterHealth()
    )
    assert pinned.route.adapter is not None and pinned.route.adapter.version == 1
    named = with_canary(
        request("hello", "s1", model="triage"), {"triage": rollout(1.0)}, Versions().card, AdapterHealth()
    )
    assert named.route.adapter is not None and named.route.adapter.version == 2


def control(backend: StateBackend, versions: Versions) -> RolloutControl:
    board, audit = RolloutBoard(backend, max_events=1000), AuditLog(MemoryRecords(), 100)
    return RolloutControl(board, versions, versions, audit, create_gateway_metrics())


async def test_a_rollout_is_refused_when_it_could_not_compare_anything() -> None:
    versions = Versions({1: TRIAGE_CARD, 2: TRIAGE_CARD, 3: msgspec.structs.replace(TRIAGE_CARD, labels=["a", "b"])})
    rollouts = control(MemoryBackend(), versions)
    with pytest.raises(BadRequestError):
        await rollouts.start("triage", RolloutStart(version=2), CALLER)  # no shadow, no canary
    with pytest.raises(NotFoundError):
        await rollouts.start("triage", RolloutStart(version=9, canary_fraction=0.1), CALLER)
    with pytest.raises(ConflictError, match="already active"):
        await rollouts.start("triage", RolloutStart(version=1, canary_fraction=0.1), CALLER)
    with pytest.raises(ConflictError, match="labels differ"):
        await rollouts.start("triage", RolloutStart(version=3, canary_fraction=0.1), CALLER)
    await rollouts.start("triage", RolloutStart(version=2, canary_fraction=0.1), CALLER)
    with pytest.raises(ConflictError, match="under way"):
        await rollouts.start("triage", RolloutStart(version=2, canary_fraction=0.1), CALLER)


async def test_two_replicas_judging_the_same_evidence_make_one_decision() -> None:
    backend, versions = MemoryBackend(), Versions()
    first, second = control(backend, versions), control(backend, versions)
    criteria = Criteria(min_requests=20, min_comparisons=20, min_latencies=20)
    started = await first.start("triage", RolloutStart(version=2, canary_fraction=0.5, criteria=criteria), CALLER)
    events = [Served(version=1, seconds=0.2) for _ in range(40)] + [Served(version=2, seconds=0.2) for _ in range(40)]
    await first.board.record(
        started, [*events, *[Compared(same=True, active_confidence=0.8, candidate_confidence=0.8)] * 40]
    )
    await asyncio.gather(first.check_all(), second.check_all())
    assert versions.activated == [2]  # promoted once
    shown = await second.show("triage")
    assert shown["rollout"].state is State.PROMOTED and shown["rollout"].decision.by == "auto"
    assert shown["evidence"]["candidate"]["answers"] == 40 and shown["verdict"] is None
    with pytest.raises(ConflictError):
        await second.act("triage", Action.ABORT, CALLER)  # nothing under way any more


async def test_a_person_can_pause_resume_and_abort_and_the_active_version_stays() -> None:
    backend, versions = MemoryBackend(), Versions()
    rollouts = control(backend, versions)
    await rollouts.start("triage", RolloutStart(version=2, canary_fraction=0.5), CALLER)
    assert (await rollouts.act("triage", Action.PAUSE, CALLER)).state is State.PAUSED
    assert (await rollouts.act("triage", Action.RESUME, CALLER)).state is State.RUNNING
    ended = await rollouts.act("triage", Action.ABORT, CALLER)
    assert ended.state is State.ABORTED and ended.decision is not None and ended.decision.by == "key-ml"
    assert versions.activated == [] and versions.active == 1
    assert versions.prepared == [2] and versions.retired == [2]  # loaded before the canary, unloaded after
    again = await rollouts.start("triage", RolloutStart(version=2, shadow_fraction=1.0), CALLER)
    assert [past.id for past in (await rollouts.show("triage"))["history"]] != [again.id]


async def test_a_version_activated_by_hand_ends_the_rollout() -> None:
    backend, versions = MemoryBackend(), Versions({1: TRIAGE_CARD, 2: TRIAGE_CARD, 3: TRIAGE_CARD})
    rollouts = control(backend, versions)
    await rollouts.start("triage", RolloutStart(version=2, canary_fraction=0.5), CALLER)
    versions.active = 3
    await rollouts.check_all()
    ended = await rollouts.board.get("triage")
    assert ended is not None and ended.state is State.ABORTED
    assert ended.decision is not None and ended.decision.reasons == ["the active version was changed to 3 by hand"]


async def test_a_rollout_record_no_replica_can_read_stops_no_other_rollout() -> None:
    versions = Versions({1: TRIAGE_CARD, 2: TRIAGE_CARD, 3: TRIAGE_CARD}, others=["legacy"])
    backend = MemoryBackend()
    rollouts = control(backend, versions)
    await rollouts.start("triage", RolloutStart(version=2, canary_fraction=0.5), CALLER)
    await backend.set(record_key("legacy"), b'{"written": "by a newer replica"}', 60)
    versions.active = 3
    await rollouts.check_all()
    ended = await rollouts.board.get("triage")
    assert ended is not None and ended.state is State.ABORTED  # judged, though legacy's record is unreadable


async def test_a_rollout_survives_a_replica_restart() -> None:
    backend, versions = MemoryBackend(), Versions()
    started = await control(backend, versions).start("triage", RolloutStart(version=2, canary_fraction=0.25), CALLER)
    fresh = RolloutBoard(backend, max_events=1000)  # a new process on the same store
    await fresh.read(["triage"])
    assert fresh.known["triage"] == started


def test_background_work_takes_only_a_slot_that_delays_no_one() -> None:
    slots = GenerationSlots(Capacity(in_flight=2, waiting=5, wait_seconds=1))
    assert slots.take_idle("shadow")  # one of two: one stays free for a user
    assert not slots.take_idle("shadow")
    slots.release("shadow")

    async def a_user_holds_one() -> bool:
        await slots.acquire()
        return slots.take_idle("shadow")

    assert not asyncio.run(a_user_holds_one())  # one user holds a slot of two: none is spare


async def test_a_comparison_gives_way_to_a_user_who_comes() -> None:
    slots = GenerationSlots(Capacity(in_flight=4, waiting=5, wait_seconds=1))
    metrics = create_gateway_metrics()
    comparisons = Comparisons(RolloutBoard(MemoryBackend(), 100), None, CONFIG, 4, metrics, slots)  # type: ignore[arg-type]
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow_compare(comparison: object) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    comparisons.answer_again = slow_compare  # type: ignore[method-assign]
    job = Comparison(rollout(), request("hello"), None, None, None, TRIAGE_CARD)  # type: ignore[arg-type]
    giving_way = asyncio.ensure_future(comparisons.giving_way(job))
    await started.wait()
    owner = await slots.acquire()  # a user's generation
    await giving_way
    assert cancelled.is_set()
    assert metrics.rollout_comparisons.labels(adapter="triage", outcome="gave_way")._value.get() == 1
    slots.release(owner)
    assert 0 <= slots.quiet_seconds() < 1.0
    assert await comparisons.quiet()  # waits out the quiet period after the user's generation
    assert slots.quiet_seconds() >= 0.25
