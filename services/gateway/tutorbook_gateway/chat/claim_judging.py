"""The judge model's second opinion on an answer's claims (:mod:`tutorbook_grounding.judging`).

One ``/v1/completions`` request asks every question at once, so it holds one generation slot and vLLM
batches it: each question is the judge's chat rendered by the chat template, followed by "Yes", and again
by "No", scored with ``prompt_logprobs`` by :func:`~.classifying.score_answers`, as a classifier's labels
are. When the judge cannot answer, the claims stay as the check left them and the summary says why.
"""

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from tutorbook_adapter_format.classification import softmax
from tutorbook_gateway.chat.classifying import LabelTokens, score_answers
from tutorbook_gateway.chat.config import JudgeConfig
from tutorbook_gateway.clients.generator import GeneratorClient
from tutorbook_grounding.judging import NO, YES, JudgeQuestion, judge_messages, judge_questions, overrule
from tutorbook_grounding.support import Claim, Passage

log = logging.getLogger("tutorbook.claims")


@dataclass
class JudgeReport:
    claims: list[Claim]
    summary: dict[str, Any] = field(default_factory=dict)  # answer_check's "judge": asked, overruled, seconds


@dataclass(frozen=True)
class ClaimJudge:
    generator: GeneratorClient
    label_tokens: LabelTokens
    config: JudgeConfig

    async def review(self, claims: list[Claim], passages: list[Passage]) -> JudgeReport:
        started = time.perf_counter()
        questions = judge_questions(claims, passages)
        summary: dict[str, Any] = {"model": self.config.model, "asked": len(questions), "overruled": 0}
        if not questions:
            return JudgeReport(claims, {**summary, "seconds": 0.0})
        try:
            async with asyncio.timeout(self.config.timeout_seconds):
                chances = await self.support_probabilities(questions, claims, passages)
        except Exception as exc:  # noqa: BLE001 - the judge is a second opinion: whatever fails, the check stands
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            log.warning("claim judge failed", extra={"error": message})
            return JudgeReport(claims, {**summary, "error": message, "seconds": elapsed(started)})
        judged = list(claims)
        for question, chance in zip(questions, chances, strict=True):
            judged[question.claim] = overrule(claims[question.claim], question, chance, self.config.min_probability)
        overruled = sum(before.supported != after.supported for before, after in zip(claims, judged, strict=True))
        return JudgeReport(judged, {**summary, "overruled": overruled, "seconds": elapsed(started)})

    async def support_probabilities(
        self, questions: list[JudgeQuestion], claims: list[Claim], passages: list[Passage]
    ) -> list[float]:
        """P(Yes) over "Yes" and "No" as the judge's whole answer, for each question."""
        chats = [
            judge_messages(claims[q.claim].text, passages[q.passage], self.config.max_passage_chars) for q in questions
        ]
        rendered = [self.generator.tokenize({"messages": chat, "add_generation_prompt": True}) for chat in chats]
        answers, prompts = await asyncio.gather(  # each answer's tokens come from memory after the first time
            self.label_tokens.of(self.generator, [YES, NO]), asyncio.gather(*rendered)
        )
        scores, _ = await score_answers(self.generator, self.config.model, list(prompts), answers)
        return [softmax({YES: yes, NO: no})[YES] for yes, no in scores]


def elapsed(started: float) -> float:
    return round(time.perf_counter() - started, 4)
