"""What the gateway's handlers work with, built once in the app's lifespan, kept on ``app.state`` and
handed to each handler as the dependency it names (``chat``, ``retriever``, ``services``)."""

from dataclasses import dataclass
from typing import Annotated, Any

from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import Dependency

from tutorbook_gateway.access.opening import Access
from tutorbook_gateway.background import BackgroundTasks
from tutorbook_gateway.chat.answering import ChatSteps
from tutorbook_gateway.chat.completions import ResponseIds
from tutorbook_gateway.clients.generator import GeneratorClient
from tutorbook_gateway.clients.retriever import RetrieverClient
from tutorbook_gateway.metrics import GatewayMetrics
from tutorbook_gateway.rollouts.tracking import RolloutTracker
from tutorbook_gateway.state.store import GatewayState


@dataclass(frozen=True)
class GatewayServices:
    access: Access  # keys, teams and the audit log
    chat: ChatSteps
    retriever: RetrieverClient
    generator: GeneratorClient
    state: GatewayState
    response_ids: ResponseIds
    metrics: GatewayMetrics
    background: BackgroundTasks
    rollouts: RolloutTracker  # also the chat path's (``chat.rollouts``); feedback joins to it


def services_of(state: State) -> GatewayServices:
    services: GatewayServices = state.services
    return services


def chat_steps(state: State) -> ChatSteps:
    return services_of(state).chat


def retriever_client(state: State) -> RetrieverClient:
    return services_of(state).retriever


# As handlers name them: built by the app, so Litestar does not validate them on every request.
Chat = Annotated[ChatSteps, Dependency(skip_validation=True)]
Retriever = Annotated[RetrieverClient, Dependency(skip_validation=True)]
Services = Annotated[GatewayServices, Dependency(skip_validation=True)]

DEPENDENCIES: dict[str, Any] = {
    "services": Provide(services_of, sync_to_thread=False),
    "chat": Provide(chat_steps, sync_to_thread=False),
    "retriever": Provide(retriever_client, sync_to_thread=False),
}
