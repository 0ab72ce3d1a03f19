"""Rollouts on the real state stores (one process's memory, a redis-server, a three-master Redis Cluster):
what every gateway replica shares. Two replicas judging the same evidence decide once; the evidence is
bounded; a replica started later routes by the same rollout."""

import asyncio

from tests.unit.test_rollouts import CALLER, Versions, control
from tutorbook_gateway.rollouts.board import RolloutBoard
from tutorbook_gateway.rollouts.evidence import Compared, Served
from tutorbook_gateway.rollouts.model import Criteria, RolloutStart, State
from tutorbook_gateway.state.backend import StateBackend

CRITERIA = Criteria(min_requests=10, min_comparisons=10, min_latencies=10)


async def test_two_replicas_on_one_store_make_one_decision(backend: StateBackend) -> None:
    versions = Versions()
    replicas = [control(backend, versions) for _ in range(2)]
    started = await replicas[0].start("triage", RolloutStart(version=2, canary_fraction=0.5, criteria=CRITERIA), CALLER)
    answers = [Served(version=1, seconds=0.3) for _ in range(20)] + [Served(version=2, seconds=0.3) for _ in range(5)]
    disagreeing = [Compared(same=False, active_confidence=0.6, candidate_confidence=0.9) for _ in range(5)]
    await replicas[1].board.record(started, [*answers, *disagreeing])
    for _ in range(3):  # each replica checks as its loop would, at the same moment
        await asyncio.gather(*(replica.check_all() for replica in replicas))
    shown = await replicas[1].show("triage")
    assert shown["rollout"].state is State.ROLLED_BACK and versions.activated == []
    assert "agreement" in shown["rollout"].decision.reasons[0]
    decided = [replica.metrics.rollout_decisions.labels(adapter="triage", state="rolled_back")._value.get()
               for replica in replicas]  # fmt: skip
    assert sorted(decided) == [0.0, 1.0]  # one replica decided, the other saw it decided


async def test_the_evidence_keeps_the_newest_events_only(backend: StateBackend) -> None:
    board = RolloutBoard(backend, max_events=100)
    rollouts = control(backend, Versions())
    started = await rollouts.start("triage", RolloutStart(version=2, shadow_fraction=1.0), CALLER)
    for batch in range(5):
        await board.record(started, [Served(version=2, seconds=float(batch))] * 30)
    kept = await board.events(started)
    assert len(kept) == 100 and isinstance(kept[-1], Served) and kept[-1].seconds == 4.0


async def test_a_replica_started_later_routes_by_the_same_rollout(backend: StateBackend) -> None:
    started = await control(backend, Versions()).start("triage", RolloutStart(version=2, canary_fraction=0.2), CALLER)
    later = RolloutBoard(backend, max_events=100)
    await later.read(["another", "triage"])
    assert later.known == {"triage": started}
