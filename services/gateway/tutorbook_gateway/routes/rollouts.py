"""``/v1/adapters/{name}/rollout``: start a candidate version in shadow or as a canary, see its evidence
and the decision, and steer it by hand (pause, resume, promote, abort). Every change is audited."""

from typing import Any

import msgspec
from litestar import Router, get, post
from litestar.datastructures import State

from tutorbook_gateway.access.model import Scope
from tutorbook_gateway.auth import caller_of, require_scope
from tutorbook_gateway.rollouts.control import RolloutControl
from tutorbook_gateway.rollouts.model import Action, RolloutStart
from tutorbook_gateway.routes.adapters import AnyRequest, admin_of, audit_of, managing_team
from tutorbook_gateway.state.backend import StateUnavailableError
from tutorbook_service.errors import BadRequestError, ServiceUnavailableError


def control_of(state: State) -> RolloutControl:
    control: RolloutControl = state.rollouts
    return control


def as_json(value: Any) -> Any:
    return msgspec.to_builtins(value)


@get("/{name:str}/rollout")
async def show_rollout(name: str, state: State, request: AnyRequest) -> dict[str, Any]:
    """The adapter's latest rollout: its state, the evidence so far, what the criteria say now, the decision
    when it ended, and the rollouts before it."""
    admin_of(state).check_owner(name, managing_team(request))
    try:
        shown = await control_of(state).show(name)
    except StateUnavailableError as exc:  # Redis away: the rollout cannot be read, and nothing changed
        raise ServiceUnavailableError("the state store did not answer: the rollout cannot be read now") from exc
    return as_json(shown)  # type: ignore[no-any-return]


@post("/{name:str}/rollout", status_code=201)
async def start_rollout(name: str, data: RolloutStart, state: State, request: AnyRequest) -> dict[str, Any]:
    caller = caller_of(request)
    async with audit_of(state).action(caller, "adapter.rollout.start", f"{name}@{data.version}") as details:
        admin_of(state).check_owner(name, managing_team(request))
        rollout = await control_of(state).start(name, data, caller)
        details.update(rollout=rollout.id, shadow=rollout.shadow_fraction, canary=rollout.canary_fraction)
    return as_json(rollout)  # type: ignore[no-any-return]


@post("/{name:str}/rollout/{action:str}", status_code=200)
async def steer_rollout(name: str, action: str, state: State, request: AnyRequest) -> dict[str, Any]:
    """``pause``, ``resume``, ``promote`` (now, whatever the evidence) or ``abort`` (the active version stays)."""
    if action not in set(Action):
        choices = ", ".join(Action)
        raise BadRequestError(f"unknown rollout action {action!r}: one of {choices}", param="action")
    caller = caller_of(request)
    async with audit_of(state).action(caller, f"adapter.rollout.{action}", name):
        admin_of(state).check_owner(name, managing_team(request))
        rollout = await control_of(state).act(name, Action(action), caller)
    return as_json(rollout)  # type: ignore[no-any-return]


rollouts_router = Router(
    path="/v1/adapters",
    guards=[require_scope(Scope.ADAPTERS)],
    route_handlers=[show_rollout, start_rollout, steer_rollout],
)
