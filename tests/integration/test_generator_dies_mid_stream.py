"""A generator that dies in the middle of a stream: the client gets an error event the OpenAI SDK raises,
never a stream that looks complete. The upstream is a real HTTP server that sends vLLM's first chunks
and then drops the connection, either abruptly (a chunked body cut short) or cleanly (before [DONE])."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest
from litestar.testing import TestClient

from tests.conftest import INTERNAL_TOKEN
from tests.unit.fakes import RETURNS, WARRANTY, FakeRetriever
from tutorbook_config.service_settings import configured
from tutorbook_gateway.app import create_app
from tutorbook_gateway.settings import GatewaySettings

USER_KEY = "user-key-for-tests-0001"


def sse(delta: dict[str, str]) -> bytes:
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "base",
             "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}  # fmt: skip
    return f"data: {json.dumps(chunk)}\n\n".encode()


class DyingGenerator(BaseHTTPRequestHandler):
    chunked = True

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding" if self.chunked else "connection", "chunked" if self.chunked else "close")
        self.end_headers()
        for event in (sse({"role": "assistant", "content": ""}), sse({"content": "Two"}), sse({"content": " years"})):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event) if self.chunked else event)
            self.wfile.flush()
        self.close_connection = True  # dies: no last chunk, no [DONE]

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(params=["cut short", "closed before done"])
def generator_url(request: pytest.FixtureRequest) -> Iterator[str]:
    handler = type("Handler", (DyingGenerator,), {"chunked": request.param == "cut short"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_stream_the_generator_abandons_ends_with_an_error_the_sdk_raises(generator_url: str) -> None:
    settings = configured(
        GatewaySettings,
        keys__api_keys=USER_KEY,
        keys__admin_keys="admin-key-for-tests-0001",
        shared__internal_token=INTERNAL_TOKEN,
        shared__base_model_name="base",
        upstreams__generator_url=generator_url,
        router__rag_min_score=0.5,
    )
    app = create_app(settings, retriever=FakeRetriever([WARRANTY, RETURNS]))
    with TestClient(app) as http:
        transport: Any = http  # an httpx client over the app (Litestar types it as its own class)
        client = openai.OpenAI(api_key=USER_KEY, base_url=f"{http.base_url}/v1", http_client=transport, max_retries=0)
        received = []
        with pytest.raises(openai.APIError, match="stream broken"):
            for chunk in client.chat.completions.create(
                model="auto", messages=[{"role": "user", "content": "How long is the warranty?"}], stream=True
            ):
                received += [choice.delta.content or "" for choice in chunk.choices]
        # What arrived before the break was noticed (all of it, or less when the cut is seen first), then
        # the error: never a stream that ends as if it were complete.
        assert "Two years".startswith("".join(received))
