"""The rollouts' parts, built once in the gateway's lifespan: the tracker on the chat path (with the task
that answers comparisons in idle slots), and the control behind the API (with this replica's share of
judging)."""

import asyncio
import dataclasses
from contextlib import AsyncExitStack

from tutorbook_gateway.background import BackgroundTasks
from tutorbook_gateway.chat.answering import ChatSteps
from tutorbook_gateway.clients.capacity import SlotBoundGenerator
from tutorbook_gateway.rollouts.board import RolloutBoard
from tutorbook_gateway.rollouts.canary import CardOf
from tutorbook_gateway.rollouts.comparing import Comparisons
from tutorbook_gateway.rollouts.control import Activator, RolloutControl, Versions
from tutorbook_gateway.rollouts.tracking import RolloutTracker
from tutorbook_gateway.services import GatewayServices
from tutorbook_gateway.settings import AdapterSettings
from tutorbook_gateway.state.backend import StateBackend


def rollout_tracker(
    settings: AdapterSettings, chat: ChatSteps, backend: StateBackend, card_of: CardOf,
    background: BackgroundTasks, stack: AsyncExitStack,
) -> RolloutTracker:  # fmt: skip
    board = RolloutBoard(backend, settings.rollout_max_events)
    generator, slots = chat.generating.generator, None
    in_lulls = settings.rollout_comparisons_in_lulls
    if isinstance(generator, SlotBoundGenerator):  # comparisons take only slots no user needs
        generator, slots = generator.in_the_background(alone=in_lulls), generator.slots if in_lulls else None
    parts = dataclasses.replace(chat.generating, generator=generator)
    queued = settings.rollout_max_queued_comparisons
    comparisons = Comparisons(board, parts, chat.config, queued, chat.metrics, slots)
    comparing = asyncio.create_task(comparisons.run())
    stack.callback(comparing.cancel)
    return RolloutTracker(board, card_of, chat.health, comparisons, background)


async def open_rollout_control(
    services: GatewayServices, versions: Versions, activator: Activator, stack: AsyncExitStack
) -> RolloutControl:
    """The control, once the rollouts under way are read (a gateway that starts routes its first request
    by them, not by a read still in flight)."""
    tracker, audit = services.rollouts, services.access.audit
    await tracker.board.read(sorted(versions.names()))
    comparisons = tracker.comparisons
    control = RolloutControl(tracker.board, versions, activator, audit, comparisons.metrics, comparisons.enabled)
    checking = asyncio.create_task(control.run())
    stack.callback(checking.cancel)
    return control
