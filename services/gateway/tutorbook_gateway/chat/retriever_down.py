"""What the router can still decide while the retriever is down: small talk it has recognised before.

The router tells small talk from product questions by how well the question matches its conversation
examples, and that match comes from the retriever (one embedding scores passages and route examples
together). So every question the router decides is small talk is remembered (normalised, in a bounded
memory per process), beside the conversation examples themselves. While the retriever fails, an ``auto``
request whose latest question is remembered is answered by plain prompting, its reason saying so. Any
other request still gets the retriever's 503: a product question answered without its passages would be
a guess, and an adapter's match is not remembered (the adapters change).
"""

from tutorbook_gateway.chat.planning import (
    AdapterSnapshot,
    ChatContext,
    ChatPlan,
    generator_payload,
    route_request_of,
    tutorbook_block,
)
from tutorbook_gateway.conversation import latest_question
from tutorbook_gateway.routing import AUTO_MODEL, Route, RouteDecision, RoutePolicy, confidence
from tutorbook_gateway.schemas import ChatCompletionRequest
from tutorbook_gateway.small_talk import EXAMPLE_SCORE, SmallTalkMemory
from tutorbook_service.errors import ServiceError

RULE = "small_talk_remembered"


def remembered_small_talk(
    request: ChatCompletionRequest, memory: SmallTalkMemory, policy: RoutePolicy, failure: ServiceError
) -> RouteDecision | None:
    """Plain prompting for an ``auto`` request the memory knows as small talk; None: nothing to go on."""
    if request.model != AUTO_MODEL or route_request_of(request).route_hint is not None:
        return None
    score = memory.recall(latest_question(request))
    if score is None:
        return None
    seen = "is one of its conversation examples" if score == EXAMPLE_SCORE else f"matched them at {score:.2f} before"
    reason = (
        f"the retriever is unavailable ({failure.code}); small talk recognised from the router's memory: "
        f"the question {seen}"
    )
    return RouteDecision(Route.PROMPT, confidence(score - policy.prompt_min_score), reason, rule=RULE)


def plan_without_retriever(
    request: ChatCompletionRequest, context: ChatContext, adapters: AdapterSnapshot, failure: ServiceError
) -> ChatPlan:
    """The plan for remembered small talk when the retriever failed; any other request gets the failure."""
    decision = remembered_small_talk(request, context.small_talk, context.config.policy, failure)
    if decision is None:
        raise failure
    payload, _, _ = generator_payload(request, decision, [], adapters.active, context.config)
    block = tutorbook_block(decision, [])
    block["fallback"] = {"without": "retriever", "because": failure.code}
    return ChatPlan(decision, block, payload)
