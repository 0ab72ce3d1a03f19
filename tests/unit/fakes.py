"""In-process fakes of the gateway's upstream clients, for unit tests only."""

import math
import re
from collections.abc import AsyncIterator
from typing import Any

from tutorbook_adapter_format.card import AdapterCard
from tutorbook_adapter_format.embedding_classifier import LinearClassifier
from tutorbook_gateway.adapters.catalog import ActiveAdapter
from tutorbook_gateway.clients.retriever import Embedding, ForwardedResponse, Passage, SearchResult, SimilarQuestion
from tutorbook_service.errors import ServiceError

DEFAULT_VECTOR = [0.0, 0.0, 1.0]


class FakeRetriever:
    def __init__(self, passages: list[Passage], route_matches: dict[str, float] | None = None) -> None:
        self.passages = passages
        self.route_matches = route_matches or {}
        self.queries: list[str] = []
        self.forwarded: list[tuple[str, str, bytes, str]] = []
        self.route_examples: dict[str, list[str]] = {}
        self.version = 1
        self.answered: dict[str, tuple[str, int]] = {}
        self.answered_teams: dict[str, str] = {}
        self.teams: list[str] = []  # whose documents each search was asked for
        self.failure: ServiceError | None = None  # set: every search fails with it (the retriever is down)
        self.embedder = "fake-embedder"
        self.vectors: dict[str, list[float]] = {}  # text -> its embedding; others: DEFAULT_VECTOR
        self.similarity_calls = 0

    async def search(self, query: str, top_k: int, team: str, similar_questions: bool = False) -> SearchResult:
        self.queries.append(query)
        self.teams.append(team)
        if self.failure is not None:
            raise self.failure
        similar = self.most_similar(query) if similar_questions else None
        return SearchResult(self.passages[:top_k], dict(self.route_matches), self.version, similar)

    async def remember_question(self, key: str, question: str, index_version: int, team: str) -> None:
        self.answered[key] = (question, index_version)
        self.answered_teams[key] = team

    def most_similar(self, query: str) -> SimilarQuestion | None:
        """Word-set overlap stands in for embedding similarity; only answers at the current version count."""

        def words(text: str) -> set[str]:
            return {word.strip("?!.,").lower() for word in text.split()}

        scored = [
            SimilarQuestion(key, len(words(query) & words(q)) / len(words(query) | words(q)))
            for key, (q, version) in self.answered.items()
            if version == self.version
        ]
        return max(scored, key=lambda similar: similar.score, default=None)

    async def index_version(self) -> int:
        return self.version

    async def embed(self, text: str) -> Embedding:
        if self.failure is not None:
            raise self.failure
        return Embedding(self.embedder, self.vectors.get(text, DEFAULT_VECTOR))

    async def similarities(self, texts: list[str], candidates: list[str]) -> list[list[float]]:
        """Word-set cosine stands in for the embedder's."""
        if self.failure is not None:
            raise self.failure
        self.similarity_calls += 1

        def words(text: str) -> set[str]:
            return {word.strip("?!.,[]()").lower() for word in text.split()} - {""}

        def cosine(a: set[str], b: set[str]) -> float:
            return len(a & b) / math.sqrt(len(a) * len(b)) if a and b else 0.0

        return [[cosine(words(text), words(candidate)) for candidate in candidates] for text in texts]

    async def put_route_examples(self, name: str, examples: list[str]) -> None:
        self.route_examples[name] = examples

    async def delete_route_examples(self, name: str) -> None:
        self.route_examples.pop(name, None)

    async def forward(self, method: str, path: str, body: bytes, query: str) -> ForwardedResponse:
        self.forwarded.append((method, path, body, query))
        return ForwardedResponse(200, b'{"documents": 1, "chunks": 1, "ids": ["a"]}')

    async def ping(self) -> None:
        return None


class FakeChunkStream:
    """vLLM's chunk sequence for an answer ("Two years [1]."), a word at a time, with usage last."""

    def __init__(self, model: str, answer: str = "Two years [1].") -> None:
        self.model = model
        self.answer = answer
        self.closed = False
        self.sent = 0  # content chunks sent before the stream was closed

    async def chunks(self) -> AsyncIterator[dict[str, Any]]:
        words = self.answer.split(" ")
        deltas = [{"role": "assistant", "content": ""}] + [
            {"content": (" " if i else "") + w} for i, w in enumerate(words)
        ]
        for delta in deltas:
            if self.closed:
                return
            self.sent += 1
            yield self.chunk([{"index": 0, "delta": delta, "finish_reason": None}])
        yield self.chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}])
        yield {**self.chunk([]), "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}}

    def chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        body = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": self.model}
        return {**body, "choices": choices, "usage": None}

    async def aclose(self) -> None:
        self.closed = True


class FakeGenerator:
    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.streams: list[FakeChunkStream] = []
        self.tokenized: list[dict[str, Any]] = []
        # a classifier's labels as vLLM would score them: "billing" (0.9), runner-up "returns"
        self.label_probabilities = {"billing": 0.9, "returns": 0.08, "shipping": 0.02}
        self.answer = "Two years [1]."  # what every chat completion says

    async def tokenize(self, payload: dict[str, Any]) -> list[int]:
        self.tokenized.append(payload)
        return fake_chat_tokens(payload)

    async def completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.payloads.append(payload)
        choices = [
            {"index": index, **scored_prompt(prompt, self.label_probabilities)}
            for index, prompt in enumerate(payload["prompt"])
        ]
        usage = {"prompt_tokens": sum(map(len, payload["prompt"])), "completion_tokens": len(choices)}
        return {
            "id": "cmpl-fake",
            "object": "text_completion",
            "model": payload["model"],
            "choices": choices,
            "usage": usage,
        }

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.payloads.append(payload)
        if payload.get("logprob_token_ids"):
            return first_token_scores(payload, self.label_probabilities)
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": payload["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": self.answer}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14},
        }

    async def open_chat_stream(self, payload: dict[str, Any]) -> FakeChunkStream:
        self.payloads.append(payload)
        self.streams.append(FakeChunkStream(payload["model"], self.answer))
        return self.streams[-1]

    async def list_models(self) -> list[dict[str, Any]]:
        return [{"id": "base", "parent": None}]

    async def ping(self) -> None:
        return None


USER = {"Authorization": "Bearer user-key-for-tests-0001"}
ADMIN = {"Authorization": "Bearer admin-key-for-tests-0001"}
WARRANTY = Passage("warranty", "warranty#0", "Warranty Policy", "Coverage", "Two years from delivery.", 0.9, 0.71)
RETURNS = Passage("returns", "returns#0", "Returns", "", "30 days.", 0.5, 0.35)


def chat(question: str, model: str = "auto", **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": question}], **extra}


END_OF_TURN, START_OF_TURN, NEWLINE = 2, 1, 10


def fake_token_ids(text: str) -> list[int]:
    return [ord(char) + 100 for char in text]


def fake_chat_tokens(payload: dict[str, Any]) -> list[int]:
    """A stand-in chat template: ``<start>role\ncontent<end>`` per message, then ``<start>assistant\n``
    unless ``add_generation_prompt`` is false (as vLLM's ``/tokenize``)."""
    ids = []
    for message in payload["messages"]:
        ids += [
            START_OF_TURN,
            *fake_token_ids(message["role"]),
            NEWLINE,
            *fake_token_ids(message["content"]),
            END_OF_TURN,
        ]
    if payload.get("add_generation_prompt", True):  # vLLM's /tokenize default
        ids += [START_OF_TURN, *fake_token_ids("assistant"), NEWLINE]
    return ids


def scored_prompt(prompt: list[int], probabilities: dict[str, float]) -> dict[str, Any]:
    """vLLM's choice for a prompt scored with ``prompt_logprobs=0``: the answer's end token carries the
    probability of its label."""
    answer_start = len(prompt) - 1 - prompt[::-1].index(NEWLINE)
    label = "".join(chr(token - 100) for token in prompt[answer_start + 1 : -1])
    logprobs: list[dict[str, Any] | None] = [None]
    for position, token in enumerate(prompt[1:], start=1):
        value = math.log(probabilities.get(label, 1e-6)) if position == len(prompt) - 1 else 0.0
        logprobs.append({str(token): {"logprob": value, "rank": 1, "decoded_token": "?"}})
    return {"text": "", "finish_reason": "length", "prompt_logprobs": logprobs}


CODED_LABEL = re.compile(r"^(.+): (\w+)$", re.M)  # "billing: C", a line per label


def first_token_scores(payload: dict[str, Any], probabilities: dict[str, float]) -> dict[str, Any]:
    """vLLM's answer to one decoding step with ``logprob_token_ids``: each code's token with the probability
    of its label (the codes and labels as the classifier prompt lists them)."""
    coded = CODED_LABEL.findall(payload["messages"][0]["content"])
    by_token = {fake_token_ids(code)[0]: math.log(probabilities.get(label, 1e-6)) for label, code in coded}
    top = [{"token": f"token_id:{token}", "logprob": by_token[token]} for token in payload["logprob_token_ids"]]
    content = [{"token": "token_id:0", "logprob": -0.1, "top_logprobs": top}]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": payload["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "?"}, "logprobs": {"content": content}}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 1, "total_tokens": 31},
    }


class FakeAdapterCatalog:
    def __init__(self, adapters: dict[str, ActiveAdapter], stored_versions: int = 9) -> None:
        self.adapters = adapters
        self.stored_versions = stored_versions  # every adapter has versions 1 to this one
        self.classifiers: dict[str, LinearClassifier] = {}  # the adapters that are embedding classifiers

    def active(self) -> dict[str, ActiveAdapter]:
        return self.adapters

    def has_version(self, name: str, version: int) -> bool:
        return name in self.adapters and 1 <= version <= self.stored_versions

    def embedding_classifier(self, name: str, version: int) -> LinearClassifier | None:
        return self.classifiers.get(name)


TRIAGE_CARD = AdapterCard(
    name="triage", base_model="base", task_type="classifier", labels=["billing", "returns", "shipping"]
)
STYLE_CARD = AdapterCard(name="style", base_model="base", task_type="generative", wants_context=True)
