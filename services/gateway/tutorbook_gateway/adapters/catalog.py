"""The active adapters as the gateway sees them: each one's card and version, plus its health."""

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from tutorbook_adapter_format.card import AdapterCard
from tutorbook_adapter_format.embedding_classifier import LinearClassifier
from tutorbook_gateway.routing import AdapterState

ERROR_WINDOW_SECONDS = 60.0


@dataclass(frozen=True)
class ActiveAdapter:
    card: AdapterCard
    version: int


class AdapterCatalog(Protocol):
    def active(self) -> Mapping[str, ActiveAdapter]:
        """Every adapter with an active version, by name (cheap: called on every routed request)."""
        ...

    def has_version(self, name: str, version: int) -> bool:
        """Whether that version is stored (a request may pin any stored version: ``name@version``)."""
        ...

    def embedding_classifier(self, name: str, version: int) -> LinearClassifier | None:
        """The version's weights when it is an embedding classifier (the gateway serves it), else None."""
        ...


class AdapterHealth:
    """Which adapter versions failed to load, and each version's generation errors in the last minute (by
    served name, ``name@version``: a pinned version vLLM cannot serve never counts against the active one)."""

    def __init__(self, window_seconds: float = ERROR_WINDOW_SECONDS) -> None:
        self._window = window_seconds
        self._errors: dict[str, deque[float]] = {}
        self._unloaded: set[str] = set()

    def record_error(self, served_name: str, now: float | None = None) -> None:
        self._errors.setdefault(served_name, deque(maxlen=100)).append(time.monotonic() if now is None else now)

    def recent_errors(self, served_name: str, now: float | None = None) -> int:
        errors = self._errors.get(served_name)
        if not errors:
            return 0
        cutoff = (time.monotonic() if now is None else now) - self._window
        while errors and errors[0] < cutoff:
            errors.popleft()
        return len(errors)

    def mark_loaded(self, served_name: str, loaded: bool) -> None:
        if loaded:
            self._unloaded.discard(served_name)
        else:
            self._unloaded.add(served_name)

    def loaded(self, served_name: str) -> bool:
        return served_name not in self._unloaded


def adapter_states(active: Mapping[str, ActiveAdapter], health: AdapterHealth) -> dict[str, AdapterState]:
    states = {}
    for name, adapter in active.items():
        state = AdapterState(name, adapter.version, adapter.card.task_type, adapter.card.wants_context)
        states[name] = AdapterState(
            name,
            adapter.version,
            adapter.card.task_type,
            adapter.card.wants_context,
            loaded=health.loaded(state.served_name),
            recent_errors=health.recent_errors(state.served_name),
        )
    return states
