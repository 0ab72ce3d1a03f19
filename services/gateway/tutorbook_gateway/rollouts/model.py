"""What a rollout is: the candidate, the shares of traffic it sees, the criteria it is judged by, and the
decision taken on it (kept in the state store as JSON; :mod:`.board`)."""

import enum
import hashlib
import time
from typing import Annotated, Any

import msgspec

from tutorbook_service.errors import BadRequestError

Share = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Count = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]


class Criteria(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What the candidate must show to be promoted, and what rolls it back (defaults; each can be set when
    the rollout starts). Rates are judged by their 95% Wilson interval (:mod:`.stats`)."""

    min_requests: Count = 50  # the candidate's answers (canary or shadow) before it may be promoted
    min_comparisons: Count = 20  # classifiers: requests answered by both versions before agreement counts
    max_error_rate: Share = 0.10  # promote: the interval's top at most this; roll back: its bottom above it
    min_agreement: Share = 0.70  # classifiers: the same label as the active version, judged like errors
    confidence_margin: Share = 0.10  # classifiers: agreement-weighted confidence at most this below the active's
    latency_margin: Annotated[float, msgspec.Meta(ge=0.0, le=100.0)] = 0.50  # p95 at most 50% above the active's
    min_latencies: Count = 20  # answers of each version before their p95 is compared
    auto: bool = True  # decide by itself (False: the evidence is gathered, a person promotes or aborts)


class RolloutStart(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/adapters/{name}/rollout``."""

    version: int
    shadow_fraction: Share = 0.0  # of the active version's answers, also answered by the candidate unseen
    canary_fraction: Share = 0.0  # of conversations answered by the candidate
    criteria: Criteria = msgspec.field(default_factory=Criteria)

    def check(self) -> None:
        if self.shadow_fraction <= 0 and self.canary_fraction <= 0:
            message = "a rollout needs a shadow_fraction or a canary_fraction above 0"
            raise BadRequestError(message, param="canary_fraction")


class State(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"  # no canary, no shadow, no automatic decision; evidence kept
    PROMOTING = "promoting"  # decided: the candidate being activated (users get the active version)
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"


class Action(enum.StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    PROMOTE = "promote"
    ABORT = "abort"


ENDED = frozenset({State.PROMOTED, State.ROLLED_BACK, State.ABORTED})


class Decision(msgspec.Struct, kw_only=True):
    """How a rollout ended, by whom ("auto" or the key), why, and the evidence at that moment."""

    state: State
    by: str
    at: float
    reasons: list[str]
    evidence: dict[str, Any]


class Rollout(msgspec.Struct, kw_only=True):
    id: str
    name: str
    active_version: int
    candidate_version: int
    task_type: str  # "classifier" or "generative": what agreement means
    shadow_fraction: float
    canary_fraction: float
    criteria: Criteria
    state: State = State.RUNNING
    started_at: float = 0.0
    started_by: str = ""
    decision: Decision | None = None

    @property
    def live(self) -> bool:
        """Sending traffic to the candidate (running, not paused or ended)."""
        return self.state is State.RUNNING

    def answers_canary(self, conversation: str) -> bool:
        """Whether this conversation is answered by the candidate: a stable hash of the rollout and the
        conversation, so a session does not flip between versions, and each rollout draws anew."""
        digest = hashlib.sha256(f"{self.id}\0{conversation}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.canary_fraction


def new_rollout(name: str, start: RolloutStart, active: int, task_type: str, by: str) -> Rollout:
    started = time.time()
    rollout_id = hashlib.sha256(f"{name}@{start.version}:{started}".encode()).hexdigest()[:12]
    return Rollout(
        id=rollout_id,
        name=name,
        active_version=active,
        candidate_version=start.version,
        task_type=task_type,
        shadow_fraction=start.shadow_fraction,
        canary_fraction=start.canary_fraction,
        criteria=start.criteria,
        started_at=started,
        started_by=by,
    )
