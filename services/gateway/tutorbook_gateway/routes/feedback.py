import time
from typing import Any

import msgspec
from litestar import Request, get, post

from tutorbook_gateway.access.model import Scope
from tutorbook_gateway.auth import caller_of, require_admin_key, require_scope
from tutorbook_gateway.services import Services
from tutorbook_gateway.state.budget import BudgetOwner, kept_size
from tutorbook_gateway.state.feedback import MAX_COMMENT_CHARS, FeedbackStore, Rating
from tutorbook_service.errors import BadRequestError, NotFoundError

MAX_LISTED = 1000
MAX_RESPONSE_ID_CHARS = 1000


def feedback_store(services: Services) -> FeedbackStore:
    if services.state.feedback is None:
        raise NotFoundError("feedback is switched off on this gateway (TUTORBOOK_GATEWAY_STATE__FEEDBACK_ENABLED)")
    return services.state.feedback


class FeedbackRequest(msgspec.Struct, forbid_unknown_fields=True):
    response_id: str
    rating: Rating
    comment: str | None = None


@post("/v1/feedback", status_code=201, guards=[require_scope(Scope.CHAT)])
async def post_feedback(data: FeedbackRequest, services: Services, request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Rate an answer (its ``id``) up or down; the route and adapter that produced it are recorded with it.
    A rating is a request like any other: it takes from the key's requests per minute (429 past them)."""
    store = feedback_store(services)
    caller = caller_of(request)
    who = BudgetOwner(caller.owner, caller.team)
    await services.chat.limiter.admit(caller.owner)
    await services.state.budget.check(who)  # a rating is kept for feedback_ttl_seconds
    if data.comment is not None and len(data.comment) > MAX_COMMENT_CHARS:
        raise BadRequestError(f"comment must be at most {MAX_COMMENT_CHARS} characters", param="comment")
    if not data.response_id.strip() or len(data.response_id) > MAX_RESPONSE_ID_CHARS:
        raise BadRequestError("response_id must be the id of an answer", param="response_id")
    response = services.response_ids.read(data.response_id)
    foreign = response is not None and response.team not in ("", caller.team)  # another team's answer
    if response is None or foreign or response.created < time.time() - services.state.feedback_ttl_seconds:
        raise NotFoundError(f"no answer with id {data.response_id!r} (or it is too old)", param="response_id")
    record = await store.record(data.response_id, response, data.rating, data.comment)
    size = kept_size(data.response_id, msgspec.json.encode(record))
    await services.state.budget.charge(who, size, services.state.feedback_ttl_seconds)
    services.metrics.feedback.labels(route=record.route or "unknown", rating=record.rating).inc()
    services.rollouts.rated(record.adapter, record.rating == "up")  # evidence for a version in a rollout
    if record.claims is not None:
        services.metrics.feedback_by_claims.labels(claims=record.claims, rating=record.rating).inc()
    return msgspec.to_builtins(record)  # type: ignore[no-any-return]


@get("/v1/feedback", guards=[require_admin_key])
async def list_feedback(services: Services, limit: int = 100) -> dict[str, Any]:
    """The most recent feedback, newest first (admin key)."""
    if not 1 <= limit <= MAX_LISTED:
        raise BadRequestError(f"limit must be between 1 and {MAX_LISTED}", param="limit")
    records = await feedback_store(services).recent(limit)
    return {"object": "list", "data": msgspec.to_builtins(records)}
