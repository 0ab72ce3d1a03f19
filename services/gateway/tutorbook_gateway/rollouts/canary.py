"""Step 1b of answering: a conversation in a rollout's canary share is answered by the candidate version.
The request's adapters are swapped before routing, so everything after (the route, the generator's model,
the cache key, ``tutorbook.adapter`` and the headers, feedback) names the version that answered."""

import dataclasses
from collections.abc import Callable, Mapping

from tutorbook_adapter_format.card import AdapterCard
from tutorbook_adapter_format.layout import VERSION_SEPARATOR
from tutorbook_gateway.adapters.catalog import ActiveAdapter, AdapterHealth
from tutorbook_gateway.chat.request import ChatRequest
from tutorbook_gateway.rollouts.model import Rollout
from tutorbook_gateway.routing import AdapterState
from tutorbook_service.errors import NotFoundError

CardOf = Callable[[str, int], AdapterCard]


def conversation_of(request: ChatRequest) -> str:
    """What stays the same for a whole conversation: its session, else the caller and its first question
    (a client without sessions sends the whole conversation every time, from the same first question)."""
    if request.session_id is not None:
        return f"session:{request.owner}:{request.session_id}"
    first = next((turn.content for turn in request.messages if turn.role == "user"), "")
    return f"first:{request.owner}:{first}"


def with_canary(
    request: ChatRequest, rollouts: Mapping[str, Rollout], card_of: CardOf, health: AdapterHealth
) -> ChatRequest:
    """The request with each adapter whose canary takes this conversation swapped to the candidate (a
    request that pins a version keeps it)."""
    pinned = request.route.model if VERSION_SEPARATOR in request.route.model else ""
    chosen = {
        name: rollout
        for name, rollout in rollouts.items()
        if rollout.live
        and not pinned.startswith(f"{name}{VERSION_SEPARATOR}")  # a pinned version keeps its own card too
        and name in request.adapters.states
        and request.adapters.states[name].version == rollout.active_version
        and rollout.answers_canary(conversation_of(request))
    }
    if not chosen:
        return request
    active, states = dict(request.adapters.active), dict(request.adapters.states)
    for name, rollout in list(chosen.items()):
        try:
            card = card_of(name, rollout.candidate_version)
        except NotFoundError:  # deleted under the rollout: the active version answers
            del chosen[name]
            continue
        active[name] = ActiveAdapter(card, rollout.candidate_version)
        served = f"{name}{VERSION_SEPARATOR}{rollout.candidate_version}"
        states[name] = AdapterState(
            name,
            rollout.candidate_version,
            card.task_type,
            card.wants_context,
            loaded=health.loaded(served),
            recent_errors=health.recent_errors(served),
        )
    adapters = dataclasses.replace(request.adapters, active=active, states=states)
    route = request.route
    if route.adapter is not None and route.adapter.name in chosen:
        route = dataclasses.replace(route, adapter=states[route.adapter.name])
    return dataclasses.replace(request, adapters=adapters, route=route)
