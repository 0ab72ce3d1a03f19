"""Step 6 of answering: the text of the answer, as it will leave. A :class:`Generation` yields the answer's
text in pieces and then knows how it finished and what it cost; whether those pieces leave as one
completion or as a stream is the caller's business, so every kind of answer reads the same:

- :class:`WholeAnswer`: complete before it leaves (vLLM's non-streamed completion, a classifier's label
  (scored by vLLM, or by an embedding classifier here), an abstention, a cached answer): one piece;
- :class:`RelayedStream`: vLLM's stream, piece by piece as the tokens arrive;
- :class:`CheckedGeneration`: either of those, written from passages, a sentence at a time through the
  runaway guard and then checked claim by claim (:mod:`.claim_checking`).
"""

import dataclasses
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from tutorbook_gateway.adapters.catalog import AdapterCatalog, AdapterHealth
from tutorbook_gateway.chat.claim_checking import CHECK_FIELDS, check_answer, claims_block
from tutorbook_gateway.chat.claim_judging import ClaimJudge
from tutorbook_gateway.chat.classifying import LabelTokens, classified
from tutorbook_gateway.chat.completions import completion_text, no_usage
from tutorbook_gateway.chat.config import ClaimCheckConfig
from tutorbook_gateway.chat.planning import ChatPlan
from tutorbook_gateway.clients.generator import ChunkStream, GeneratorClient
from tutorbook_gateway.clients.retriever import RetrieverClient
from tutorbook_gateway.clients.upstream import ModelNotServedError
from tutorbook_grounding.policy import ClaimsPolicy
from tutorbook_grounding.prompt import Source
from tutorbook_grounding.sentences import RunawayGuard
from tutorbook_service.errors import UpstreamError, UpstreamTimeoutError
from tutorbook_service.request_context import traced

ABSTAIN_ANSWER = "Not sure about the answer: need more context."


def abstain_answer(suggestions: tuple[str, ...]) -> str:
    """What the abstain route says, with the closest topics the knowledge base has."""
    if not suggestions:
        return ABSTAIN_ANSWER
    return f"{ABSTAIN_ANSWER} Closest topics I know about: {'; '.join(suggestions)}."


@dataclass(frozen=True)
class GenerationParts:
    """What generating needs besides the plan."""

    generator: GeneratorClient
    retriever: RetrieverClient  # the claim check's similarities, an embedding classifier's embedding
    adapters: AdapterCatalog  # an embedding classifier's weights
    health: AdapterHealth  # a failing adapter is noted: the router skips one that keeps failing
    claim_check: ClaimCheckConfig
    label_tokens: LabelTokens = field(default_factory=LabelTokens)  # classifier labels as answers, in tokens


class Generation(Protocol):
    @property
    def finish_reason(self) -> str | None: ...

    @property
    def usage(self) -> dict[str, Any]:
        """Known once every piece has been read."""
        ...

    @property
    def first_piece_seconds(self) -> float | None:
        """After the request started generating; None: nothing came."""
        ...

    @property
    def generated_pieces(self) -> int:
        """Pieces vLLM generated so far, delivered or not (held for the claim check, or never read by a
        client that left): what the key is charged when no usage came."""
        ...

    @property
    def tutorbook(self) -> dict[str, Any]:
        """What the answer adds to its ``tutorbook`` block once every piece has been read (the claims)."""
        ...

    @property
    def checked_text(self) -> str | None:
        """The answer as the claim check left it, when that differs from the pieces sent (a flagged
        stream's sentences left before they were marked); None: the pieces are the answer."""
        ...

    def pieces(self) -> AsyncIterator[str]: ...

    async def aclose(self) -> None:
        """Stop generating (a client that went away): closing vLLM's stream aborts the request there."""
        ...


@dataclass
class WholeAnswer:
    text: str
    finish_reason: str | None = "stop"
    usage: dict[str, Any] = field(default_factory=no_usage)
    first_piece_seconds: float | None = None
    tutorbook: dict[str, Any] = field(default_factory=dict)
    checked_text: str | None = None
    generated_pieces: int = 0  # its usage says what it cost

    async def pieces(self) -> AsyncIterator[str]:
        if self.text:
            yield self.text

    async def aclose(self) -> None:
        return None


class RelayedStream:
    """vLLM's stream relayed piece by piece; when it ends, its seconds are the answer's ``generate`` phase
    (in ``phases``: the plan's, which the metrics read once the answer is delivered)."""

    def __init__(self, upstream: ChunkStream, started: float, phases: dict[str, float] | None = None) -> None:
        self._upstream = upstream
        self._started = started
        self._phases = {} if phases is None else phases
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] = no_usage()
        self.first_piece_seconds: float | None = None
        self.tutorbook: dict[str, Any] = {}
        self.checked_text: str | None = None
        self.generated_pieces = 0

    async def pieces(self) -> AsyncIterator[str]:
        try:
            async for item in self._upstream.chunks():
                self.usage = item.get("usage") or self.usage
                for choice in item.get("choices") or []:
                    self.finish_reason = choice.get("finish_reason") or self.finish_reason
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        self.generated_pieces += 1
                        if self.first_piece_seconds is None:
                            self.first_piece_seconds = time.perf_counter() - self._started
                        yield content
        finally:
            self._phases["generate"] = time.perf_counter() - self._started
            await self._upstream.aclose()

    async def aclose(self) -> None:
        await self._upstream.aclose()


class CheckedGeneration:
    """A generation written from passages, let through the runaway guard and checked once it has ended.
    ``tutorbook`` holds what the check adds to the answer's ``tutorbook`` block, once the pieces are read."""

    def __init__(
        self,
        inner: Generation,
        sources: list[Source],
        citations: list[dict[str, Any]],
        retriever: RetrieverClient,
        config: ClaimCheckConfig,
        stream: bool,
        judge: ClaimJudge | None = None,
    ) -> None:
        self._inner = inner
        self._sources = sources
        self._citations = citations
        self._retriever = retriever
        self._config = config
        self._judge = judge
        self._live = stream and config.policy is ClaimsPolicy.FLAG  # else the text waits for the check
        self._guard = RunawayGuard(config.max_answer_sentences)
        self.tutorbook: dict[str, Any] = {}
        self.checked_text: str | None = None

    @property
    def finish_reason(self) -> str | None:
        return "stop" if self._guard.stopped else self._inner.finish_reason

    @property
    def usage(self) -> dict[str, Any]:
        return self._inner.usage

    @property
    def first_piece_seconds(self) -> float | None:
        return self._inner.first_piece_seconds

    @property
    def generated_pieces(self) -> int:
        return self._inner.generated_pieces

    async def pieces(self) -> AsyncIterator[str]:
        live = self._live
        released: list[str] = []
        async for piece in self._inner.pieces():
            text = self._guard.feed(piece)
            if text:
                released.append(text)
                if live:
                    yield text
            if self._guard.stopped:
                await self._inner.aclose()  # vLLM stops generating the runaway answer
                break
        rest = self._guard.finish()
        if rest:
            released.append(rest)
            if live:
                yield rest
        answer = "".join(released)
        with traced("claim_check"):
            outcome = await check_answer(answer, self._sources, self._retriever, self._config, self._judge)
        self.tutorbook = claims_block(outcome, self._config, self._citations, self._guard.stopped)
        if live and outcome.text != answer:
            self.checked_text = outcome.text  # recorded and cached as marked
            return  # the words have left: the claims in the last chunk mark them
        if not live and outcome.text:
            yield outcome.text

    async def aclose(self) -> None:
        await self._inner.aclose()


def whole_answer(completion: dict[str, Any]) -> WholeAnswer:
    """A complete ``chat.completion`` (vLLM's, or a cached one) as a generation."""
    choice = completion["choices"][0]
    usage = completion.get("usage") or no_usage()
    return WholeAnswer(completion_text(completion), choice.get("finish_reason") or "stop", usage)


def cached_answer(completion: dict[str, Any]) -> WholeAnswer:
    """A cached ``chat.completion``, with what its claim check added, as when it was fresh."""
    cached = whole_answer(completion)
    checked = completion.get("tutorbook") or {}
    cached.tutorbook = {name: checked[name] for name in CHECK_FIELDS if name in checked}
    return cached


async def generate(
    plan: ChatPlan, parts: GenerationParts, stream: bool, cached: dict[str, Any] | None = None
) -> Generation:
    """The cached answer; else abstain locally, or ask vLLM: whole, or as a stream; an answer written from
    passages is then checked claim by claim. An adapter whose generation fails is noted (the router skips
    one that keeps failing): only the generator's own failures (5xx, timeouts, an adapter the replica does
    not serve) count, never a request vLLM refused as the client's fault, which one key could send."""
    if cached is not None:
        return cached_answer(cached)
    if plan.payload is None:
        return WholeAnswer(abstain_answer(plan.decision.suggestions))
    started = time.perf_counter()
    adapter = plan.decision.adapter or plan.reader
    try:
        if plan.labels is None:
            return await generated_text(plan, parts, stream, started)
        text, details, usage = await classified(
            plan, parts.generator, parts.retriever, parts.adapters, parts.label_tokens
        )
    except (UpstreamError, UpstreamTimeoutError, ModelNotServedError):
        if adapter is not None:
            parts.health.record_error(adapter.served_name)
        raise
    plan.phase_seconds["generate"] = time.perf_counter() - started
    plan.tutorbook["classification"] = details
    return WholeAnswer(text, "stop", usage)


async def generated_text(plan: ChatPlan, parts: GenerationParts, stream: bool, started: float) -> Generation:
    """vLLM's answer, whole or streamed; one written from passages goes through the claim check."""
    assert plan.payload is not None
    if stream or plan.sources:  # an answer from passages is streamed from vLLM even when whole here:
        # the runaway guard can then stop vLLM at the first repeated sentence instead of the token limit
        answer: Generation = RelayedStream(
            await parts.generator.open_chat_stream(plan.payload), started, plan.phase_seconds
        )
    else:
        answer = whole_answer(await parts.generator.chat_completion(plan.payload))
        plan.phase_seconds["generate"] = time.perf_counter() - started
    if not plan.sources:
        return answer
    config = dataclasses.replace(parts.claim_check, policy=plan.claims_policy)
    citations = plan.tutorbook["citations"]
    judge = ClaimJudge(parts.generator, parts.label_tokens, config.judge) if config.judge.model else None
    return CheckedGeneration(answer, plan.sources, citations, parts.retriever, config, stream, judge)
