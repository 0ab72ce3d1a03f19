"""A classifier's answer: the most probable of its labels, with its confidence and runners-up
(:mod:`tutorbook_adapter_format.classification`). An embedding classifier answers in the gateway, from the
retriever's embedding; a LoRA classifier is scored by vLLM:

- trained to answer with a one-token code per label (its card's ``label_codes``): one decoding step, one
  chat request with ``logprob_token_ids`` (vLLM returns the log-probability of every code's token as the
  answer's first token; one generation slot, as long as generating one token);
- trained on whole labels, the reference: every label as the assistant's whole answer, one
  ``/v1/completions`` request carrying one prompt per label (the classifier prompt rendered by the chat
  template, then that label's tokens and the end of the turn) with ``prompt_logprobs``, which vLLM cannot
  answer from its prefix cache: as slow as the labels are many.

The tokens of labels and codes come from the chat template once per served model and label set, then from
memory.
"""

import asyncio
from collections import OrderedDict
from typing import Any

from tutorbook_adapter_format.classification import classification_from_logprobs, logits
from tutorbook_adapter_format.embedding_classifier import LinearClassifier
from tutorbook_gateway.adapters.catalog import AdapterCatalog
from tutorbook_gateway.chat.completions import no_usage
from tutorbook_gateway.chat.planning import ChatPlan
from tutorbook_gateway.clients.generator import GeneratorClient
from tutorbook_gateway.clients.retriever import RetrieverClient
from tutorbook_service.errors import ServiceUnavailableError, UpstreamError

PROBE = [{"role": "user", "content": "?"}]
MAX_CACHED_LABEL_SETS = 64


def continuation(prompt: list[int], whole: list[int]) -> list[int]:
    """The tokens ``whole`` adds after ``prompt`` (the chat template renders the answer after its prompt)."""
    if whole[: len(prompt)] != prompt or len(whole) == len(prompt):
        raise ValueError("the chat template does not render an answer after the generation prompt")
    return whole[len(prompt) :]


class LabelTokens:
    """Each label's tokens as the whole answer, for the most recent ``limit`` label sets."""

    def __init__(self, limit: int = MAX_CACHED_LABEL_SETS) -> None:
        self._limit = limit
        self._cached: OrderedDict[tuple[str, ...], list[list[int]]] = OrderedDict()

    async def of(self, generator: GeneratorClient, labels: list[str]) -> list[list[int]]:
        key = tuple(labels)
        if key in self._cached:
            self._cached.move_to_end(key)
            return self._cached[key]
        prompt = generator.tokenize({"messages": PROBE, "add_generation_prompt": True})
        answers = [  # vLLM's /tokenize adds a generation prompt unless told not to
            generator.tokenize(
                {"messages": [*PROBE, {"role": "assistant", "content": label}], "add_generation_prompt": False}
            )
            for label in labels
        ]
        prompt_ids, *answer_ids = await asyncio.gather(prompt, *answers)
        tokens = [continuation(prompt_ids, ids) for ids in answer_ids]
        self._cached[key] = tokens
        while len(self._cached) > self._limit:
            self._cached.popitem(last=False)
        return tokens

    async def first_tokens(self, generator: GeneratorClient, codes: list[str]) -> list[int] | None:
        """Each code's token, when every code is one token followed by the same end of the turn; else None."""
        answers = await self.of(generator, codes)
        end = answers[0][1:]
        return [answer[0] for answer in answers] if all(answer[1:] == end for answer in answers) else None


async def classified(
    plan: ChatPlan,
    generator: GeneratorClient,
    retriever: RetrieverClient,
    adapters: AdapterCatalog,
    label_tokens: LabelTokens,
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The answer's text, its ``tutorbook.classification`` (label, confidence, runners-up) and its usage."""
    assert plan.labels is not None and plan.payload is not None and plan.decision.adapter is not None
    adapter = plan.decision.adapter
    classifier = adapters.embedding_classifier(adapter.name, adapter.version)
    if classifier is None and plan.codes:
        scores, usage = await score_codes(generator, plan.payload, plan.labels, plan.codes, label_tokens)
    elif classifier is None:
        scores, usage = await score_labels(generator, plan.payload, plan.labels, label_tokens)
    else:
        vector, usage = await embedding_for(retriever, classifier, plan.payload), no_usage()
        scores = logits(classifier, vector)
    result = classification_from_logprobs(scores)
    return result.text(), result.as_dict(), {**no_usage(), **usage}


async def embedding_for(
    retriever: RetrieverClient, classifier: LinearClassifier, payload: dict[str, Any]
) -> list[float]:
    """The message embedded by the retriever, as the embedding classifier was trained on (no generator)."""
    embedding = await retriever.embed(payload["messages"][-1]["content"])
    if embedding.embedder != classifier.embedder:
        raise ServiceUnavailableError(
            f"the retriever now embeds with {embedding.embedder!r}, but {payload['model']} was trained on "
            f"{classifier.embedder!r}: retrain it on the retriever's embedder"
        )
    return embedding.vector


async def score_codes(
    generator: GeneratorClient, payload: dict[str, Any], labels: list[str], codes: list[str], tokens: LabelTokens
) -> tuple[dict[str, float], dict[str, Any]]:
    """One decoding step: each label's code as the first token of the answer, and what it cost. A code the
    served tokenizer splits in two (an adapter trained for another base model) is scored the reference way."""
    code_ids = await tokens.first_tokens(generator, codes)
    if code_ids is None:
        return await score_labels(generator, payload, labels, tokens, codes)
    step = {"max_tokens": 1, "temperature": 0.0, "logprobs": True, "logprob_token_ids": code_ids}
    completion = await generator.chat_completion({**payload, **step, "return_tokens_as_token_ids": True})
    return dict(zip(labels, first_token_logprobs(completion, code_ids), strict=True)), completion.get("usage") or {}


def first_token_logprobs(completion: dict[str, Any], token_ids: list[int]) -> list[float]:
    """Each token's log-probability as the answer's first token, from vLLM's ``top_logprobs`` (tokens named
    ``token_id:<id>``)."""
    choices = completion.get("choices") or [{}]
    steps = (choices[0].get("logprobs") or {}).get("content") or [{}]
    found = {entry.get("token"): entry.get("logprob") for entry in steps[0].get("top_logprobs") or []}
    missing = [token for token in token_ids if found.get(f"token_id:{token}") is None]
    if missing:
        raise UpstreamError(f"generator: no log-probability came for the label tokens {missing}")
    return [float(found[f"token_id:{token}"]) for token in token_ids]


async def score_labels(
    generator: GeneratorClient,
    payload: dict[str, Any],
    labels: list[str],
    label_tokens: LabelTokens,
    answers: list[str] | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Each label's log-probability as the whole answer to ``payload`` (the classifier's chat request: the
    label, or its code in ``answers``), and what scoring them cost."""
    prompt = generator.tokenize({"messages": payload["messages"], "add_generation_prompt": True})
    prompt_ids, answer_ids = await asyncio.gather(prompt, label_tokens.of(generator, answers or labels))
    (scores,), usage = await score_answers(generator, payload["model"], [prompt_ids], answer_ids)
    return dict(zip(labels, scores, strict=True)), usage


async def score_answers(
    generator: GeneratorClient, model: str, prompts: list[list[int]], answers: list[list[int]]
) -> tuple[list[list[float]], dict[str, Any]]:
    """Each answer's summed log-probability after each prompt (``[prompt][answer]``), and what it cost: one
    ``/v1/completions`` request with ``prompt_logprobs``, which vLLM batches."""
    completion = await generator.completion(
        {
            "model": model,
            "prompt": [prompt + answer for prompt in prompts for answer in answers],
            "max_tokens": 1,
            "temperature": 0.0,
            "prompt_logprobs": 0,
        }
    )
    choices = sorted(completion["choices"], key=lambda choice: int(choice["index"]))
    if len(choices) != len(prompts) * len(answers):
        raise ValueError(f"vLLM scored {len(choices)} prompts of {len(prompts) * len(answers)}")
    flat = [
        continuation_logprob(choice["prompt_logprobs"], answers[index % len(answers)])
        for index, choice in enumerate(choices)
    ]
    width = len(answers)
    return [flat[row * width : (row + 1) * width] for row in range(len(prompts))], completion.get("usage") or {}


def continuation_logprob(prompt_logprobs: list[dict[str, Any] | None], continuation: list[int]) -> float:
    """The summed log-probability of the prompt's last tokens, ``continuation``, from vLLM's
    ``prompt_logprobs`` (one entry per prompt token, keyed by token id; the first is ``None``)."""
    scored = prompt_logprobs[len(prompt_logprobs) - len(continuation) :]
    total = 0.0
    for entry, token_id in zip(scored, continuation, strict=True):
        if entry is None or str(token_id) not in entry:
            raise ValueError(f"vLLM returned no log-probability for prompt token {token_id}")
        total += float(entry[str(token_id)]["logprob"])
    return total
