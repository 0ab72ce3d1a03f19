"""Rollouts in the state store, shared by every gateway replica, and the copy each replica routes by.

Keys (one hash tag per adapter name, so a Redis Cluster keeps each rollout's keys in one slot)::

    tb:rollout:{<name>}                 the rollout, JSON (running, paused, or how it ended)
    tb:rollout:{<name>}:events:<id>:<stream>  its evidence, the newest ``max_events`` of each stream: the
                                        active version's answers and ratings, the candidate's, the pairs
                                        (so a busy active version never pushes a small canary's out)
    tb:rollout:{<name>}:decided:<id>    the decision, set once (SET NX): whichever replica sets it decides
    tb:rollout:{<name>}:history         the rollouts that ended, newest last (at most ``HISTORY`` of them)

The chat path never waits for the store: it routes by the copy last read, which :meth:`refresh` reads
again in the background at most once a second (a second old while Redis answers; while it does not, the
last copy read stands).
"""

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping

import msgspec

from tutorbook_gateway.rollouts.evidence import Compared, Event
from tutorbook_gateway.rollouts.model import Decision, Rollout
from tutorbook_gateway.state.backend import StateBackend, StateUnavailableError

log = logging.getLogger("tutorbook.rollouts")
REFRESH_SECONDS = 1.0
KEEP_SECONDS = 90 * 86400.0  # a rollout's record and evidence, after it last changed
HISTORY = 20

events_decoder: msgspec.json.Decoder[Event] = msgspec.json.Decoder(Event)


STREAMS = ("active", "candidate", "pairs")


def stream_of(rollout: Rollout, event: Event) -> str:
    if isinstance(event, Compared):
        return "pairs"
    return "candidate" if event.version == rollout.candidate_version else "active"


def record_key(name: str) -> str:
    return f"tb:rollout:{{{name}}}"


class RolloutBoard:
    def __init__(self, backend: StateBackend, max_events: int) -> None:
        self.backend = backend
        self.max_events = max_events
        self._known: dict[str, Rollout] = {}
        self._read_at = 0.0
        self._reading: asyncio.Task[None] | None = None

    def refresh(self, names: Iterable[str]) -> None:
        """Read the rollouts of ``names`` (the active adapters) again in the background, at most once a
        second and one read at a time; never waits."""
        if time.monotonic() - self._read_at < REFRESH_SECONDS or (self._reading and not self._reading.done()):
            return
        self._read_at = time.monotonic()
        self._reading = asyncio.get_running_loop().create_task(self.read(sorted(names)))

    async def read(self, wanted: list[str]) -> None:
        try:
            self._known = await self.get_many(wanted)
        except StateUnavailableError:
            return  # the last copy read stands

    async def get_many(self, names: list[str]) -> dict[str, Rollout]:
        """The rollouts of ``names`` that exist, in one round trip. One that cannot be read (written by a
        newer replica, say) is left out, as if absent, so the others are still routed and judged."""
        raw = await self.backend.get_many([record_key(name) for name in names]) if names else []
        found = {}
        for name, value in zip(names, raw, strict=True):
            if value is None:
                continue
            try:
                found[name] = msgspec.json.decode(value, type=Rollout)
            except msgspec.DecodeError as exc:
                log.warning("rollout of %s not readable: %s", name, exc)
        return found

    @property
    def known(self) -> Mapping[str, Rollout]:
        """The rollouts as last read (what requests are routed by)."""
        return self._known

    async def get(self, name: str) -> Rollout | None:
        raw = await self.backend.get(record_key(name))
        return None if raw is None else msgspec.json.decode(raw, type=Rollout)

    async def put(self, rollout: Rollout) -> None:
        await self.backend.set(record_key(rollout.name), msgspec.json.encode(rollout), KEEP_SECONDS)
        self._known[rollout.name] = rollout
        self._read_at = 0.0

    async def record(self, rollout: Rollout, events: list[Event]) -> None:
        streams: dict[str, list[bytes]] = {}
        for event in events:
            streams.setdefault(stream_of(rollout, event), []).append(msgspec.json.encode(event))
        for stream, encoded in streams.items():
            key = f"{record_key(rollout.name)}:events:{rollout.id}:{stream}"
            await self.backend.push(key, encoded, self.max_events, KEEP_SECONDS)

    async def events(self, rollout: Rollout) -> list[Event]:
        found: list[Event] = []
        for stream in STREAMS:
            raw = await self.backend.items(f"{record_key(rollout.name)}:events:{rollout.id}:{stream}", self.max_events)
            found += [events_decoder.decode(item) for item in raw]
        return found

    async def claim(self, rollout: Rollout, decision: Decision) -> bool:
        """Take the rollout's one decision; False: another replica (or person) took it first."""
        key = f"{record_key(rollout.name)}:decided:{rollout.id}"
        return await self.backend.add(key, msgspec.json.encode(decision), KEEP_SECONDS)

    async def unclaim(self, rollout: Rollout) -> None:
        """Give the decision back (it could not be carried out yet): the next check decides again."""
        await self.backend.delete(f"{record_key(rollout.name)}:decided:{rollout.id}")

    async def take_over(self, rollout: Rollout) -> bool:
        """Whether this replica is the one to finish a decision whose replica stopped half way."""
        return await self.backend.add(f"{record_key(rollout.name)}:taken-over:{rollout.id}", b"1", KEEP_SECONDS)

    async def claimed(self, rollout: Rollout) -> Decision | None:
        raw = await self.backend.get(f"{record_key(rollout.name)}:decided:{rollout.id}")
        return None if raw is None else msgspec.json.decode(raw, type=Decision)

    async def close(self, rollout: Rollout) -> None:
        """Keep the ended rollout as the name's latest, and in its history."""
        await self.put(rollout)
        key = f"{record_key(rollout.name)}:history"
        await self.backend.push(key, [msgspec.json.encode(rollout)], HISTORY, KEEP_SECONDS)

    async def history(self, name: str) -> list[Rollout]:
        raw = await self.backend.items(f"{record_key(name)}:history", HISTORY)
        return [msgspec.json.decode(item, type=Rollout) for item in raw]
