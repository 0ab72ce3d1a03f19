"""What the gateway's handlers work with, built once in the app's lifespan and kept on ``app.state``."""

from dataclasses import dataclass

from tutorbook_gateway.auth import KeyRing
from tutorbook_gateway.chat import ChatConfig
from tutorbook_gateway.clients.generator import GeneratorClient
from tutorbook_gateway.clients.retriever import RetrieverClient
from tutorbook_gateway.metrics import GatewayMetrics


@dataclass(frozen=True)
class GatewayServices:
    keys: KeyRing
    chat: ChatConfig
    retriever: RetrieverClient
    generator: GeneratorClient
    metrics: GatewayMetrics
