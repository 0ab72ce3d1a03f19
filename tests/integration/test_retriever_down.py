"""The retriever is down: requests that need retrieval get a clear 503 with Retry-After (never a 500,
never a hang); requests that need none (the base model, a named classifier) keep being answered; and
the gateway uses the retriever again as soon as it returns, with no restart. Real HTTP to the retriever's
address: first nothing listens there, then a stand-in answers searches."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from litestar.testing import TestClient

from tests.conftest import INTERNAL_TOKEN, free_port
from tests.unit.fakes import USER, FakeGenerator
from tutorbook_config.service_settings import configured
from tutorbook_gateway.app import create_app
from tutorbook_gateway.settings import GatewaySettings

HIT = {"doc_id": "warranty", "chunk_id": "warranty#0", "title": "Warranty", "section": "",
       "text": "The warranty lasts two years.", "score": 0.9, "dense_score": 0.9, "lexical_score": 0.8}  # fmt: skip


class StandInRetriever(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        body = json.dumps({"hits": [HIT], "routes": [], "index_version": 1}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def ask(client: TestClient[Any], model: str) -> Any:
    body = {"model": model, "messages": [{"role": "user", "content": "How long is the warranty?"}]}
    return client.post("/v1/chat/completions", json=body, headers=USER)


def test_retrieval_routes_get_a_503_while_others_answer_and_it_recovers_by_itself() -> None:
    port = free_port()
    settings = configured(
        GatewaySettings,
        keys__api_keys="user-key-for-tests-0001",
        keys__admin_keys="admin-key-for-tests-0001",
        shared__internal_token=INTERNAL_TOKEN,
        shared__base_model_name="base",
        upstreams__retriever_url=f"http://127.0.0.1:{port}",
        router__rag_min_score=0.5,
        cache__enabled=False,
    )
    with TestClient(create_app(settings, generator=FakeGenerator())) as client:
        refused = ask(client, "auto")
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        error = refused.json()["error"]
        assert error["code"] == "upstream_unavailable" and error["message"].startswith("retriever is unavailable")
        assert ask(client, "base").status_code == 200  # plain prompting needs no retrieval
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["retriever"].startswith("failed")
        assert ready.json()["checks"]["generator"] == "ok"  # says which part is down
        server = ThreadingHTTPServer(("127.0.0.1", port), StandInRetriever)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            recovered = ask(client, "auto")
            assert recovered.status_code == 200 and recovered.json()["tutorbook"]["route"] == "rag"
            # The stand-in answers every POST with search hits, so the claim check cannot score the answer:
            # the answer still comes, said to be unchecked, and withholds what it could not check.
            check = recovered.json()["tutorbook"]["answer_check"]
            assert check["checked"] is False and "similarities" in check["error"] and check["not_sure"]
        finally:
            server.shutdown()
            server.server_close()
