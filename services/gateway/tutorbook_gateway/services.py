"""What the gateway's handlers work with, built once in the app's lifespan and kept on ``app.state``."""

from dataclasses import dataclass

from tutorbook_gateway.auth import KeyRing
from tutorbook_gateway.chat import ChatContext
from tutorbook_gateway.metrics import GatewayMetrics


@dataclass(frozen=True)
class GatewayServices:
    keys: KeyRing
    chat: ChatContext
    metrics: GatewayMetrics
