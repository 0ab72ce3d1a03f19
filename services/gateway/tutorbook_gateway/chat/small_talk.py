"""What the router can still decide while the retriever is down: small talk it has recognised before.

The router tells small talk from product questions by how well the question matches its conversation
examples, and that match comes from the retriever (one embedding scores passages and route examples
together). So every question the router decides is small talk is remembered (normalised, in a bounded
memory per process), beside the conversation examples themselves. While the retriever fails, an ``auto``
request whose latest question is remembered is answered by plain prompting, its reason saying so. Any
other request still gets the retriever's 503: a product question answered without its passages would be
a guess, and an adapter's match is not remembered (the adapters change).
"""

import re
from collections import OrderedDict
from collections.abc import Iterable

from tutorbook_gateway.routing import AUTO_MODEL, Route, RouteDecision, RoutePolicy, RouteRequest, confidence
from tutorbook_service.errors import ServiceError

RULE = "small_talk_remembered"
WORDS = re.compile(r"[^\W_]+")
EXAMPLE_SCORE = 1.0  # an example matches itself


def normalised(text: str) -> str:
    """Its words, lower case: "Hi!" and "hi" are the same small talk."""
    return " ".join(WORDS.findall(text.lower()))


class SmallTalkMemory:
    """Questions the router decided were small talk, with their match score, at most ``capacity`` of them
    (the least recently used go first); the conversation examples are always there."""

    def __init__(self, capacity: int, examples: Iterable[str] = ()) -> None:
        self._capacity = capacity
        self._examples = {normalised(example) for example in examples}
        self._scores: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._scores)

    def remember(self, question: str, score: float) -> None:
        key = normalised(question)
        if self._capacity <= 0 or not key or key in self._examples:
            return
        self._scores[key] = score
        self._scores.move_to_end(key)
        while len(self._scores) > self._capacity:
            self._scores.popitem(last=False)

    def recall(self, question: str) -> float | None:
        """The question's small-talk score when it was decided, or None: not known as small talk."""
        key = normalised(question)
        if key in self._examples:
            return EXAMPLE_SCORE
        score = self._scores.get(key)
        if score is not None:
            self._scores.move_to_end(key)
        return score


def remembered_small_talk(
    route: RouteRequest, question: str, memory: SmallTalkMemory, policy: RoutePolicy, failure: ServiceError
) -> RouteDecision | None:
    """Plain prompting for an ``auto`` request the memory knows as small talk; None: nothing to go on."""
    if route.model != AUTO_MODEL or route.hint is not None:
        return None
    score = memory.recall(question)
    if score is None:
        return None
    seen = "is one of its conversation examples" if score == EXAMPLE_SCORE else f"matched them at {score:.2f} before"
    reason = (
        f"the retriever is unavailable ({failure.code}); small talk recognised from the router's memory: "
        f"the question {seen}"
    )
    return RouteDecision(Route.PROMPT, confidence(score - policy.prompt_min_score), reason, rule=RULE)
