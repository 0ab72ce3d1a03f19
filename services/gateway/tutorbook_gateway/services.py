"""What the gateway's handlers work with, built once in the app's lifespan and kept on ``app.state``."""

from dataclasses import dataclass

from tutorbook_gateway.auth import KeyRing
from tutorbook_gateway.background import BackgroundTasks
from tutorbook_gateway.chat.admission import InFlight
from tutorbook_gateway.chat.answer_cache import AnswerCache
from tutorbook_gateway.chat.completions import ResponseIds
from tutorbook_gateway.chat.planning import ChatContext
from tutorbook_gateway.metrics import GatewayMetrics
from tutorbook_gateway.state.store import GatewayState


@dataclass(frozen=True)
class GatewayServices:
    keys: KeyRing
    chat: ChatContext
    answers: AnswerCache
    response_ids: ResponseIds
    metrics: GatewayMetrics
    state: GatewayState
    background: BackgroundTasks
    in_flight: InFlight
