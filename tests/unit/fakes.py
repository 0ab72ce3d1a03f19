"""In-process fakes of the gateway's upstream clients, for unit tests only."""

from typing import Any

from tutorbook_gateway.clients.retriever import ForwardedResponse, Passage


class FakeRetriever:
    def __init__(self, passages: list[Passage]) -> None:
        self.passages = passages
        self.queries: list[str] = []
        self.forwarded: list[tuple[str, str, bytes, str]] = []

    async def search(self, query: str, top_k: int) -> list[Passage]:
        self.queries.append(query)
        return self.passages[:top_k]

    async def forward(self, method: str, path: str, body: bytes, query: str) -> ForwardedResponse:
        self.forwarded.append((method, path, body, query))
        return ForwardedResponse(200, b'{"documents": 1, "chunks": 1, "ids": ["a"]}')

    async def ping(self) -> None:
        return None


class FakeGenerator:
    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    async def chat_completion(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.payloads.append(payload)
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": payload["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Two years [1]."}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14},
        }

    async def list_models(self) -> list[dict[str, Any]]:
        return [{"id": "base", "parent": None}]

    async def ping(self) -> None:
        return None
