import json
import logging

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.unit.fakes import USER, chat
from tutorbook_gateway.clients.upstream import request_headers
from tutorbook_service.logs import JsonFormatter
from tutorbook_service.request_context import request_id_from, request_id_var


@pytest.mark.parametrize(
    ("headers", "kept"),
    [([(b"x-request-id", b"abc-123")], True), ([(b"X-Request-ID", b"bad id with spaces")], False), ([], False)],
)
def test_request_ids_are_kept_when_valid_and_made_up_otherwise(headers: list[tuple[bytes, bytes]], kept: bool) -> None:
    request_id = request_id_from(headers)
    assert (request_id == "abc-123") is kept
    assert 1 <= len(request_id) <= 128


def test_every_response_carries_a_request_id(client: TestClient[Litestar]) -> None:
    given = client.post("/v1/chat/completions", json=chat("hi"), headers={**USER, "x-request-id": "trace-1"})
    assert given.headers["x-request-id"] == "trace-1"
    made_up = client.get("/healthz")
    assert len(made_up.headers["x-request-id"]) == 32
    refused = client.post("/v1/chat/completions", json=chat("hi"))
    assert refused.status_code == 401 and refused.headers["x-request-id"]


def test_upstream_calls_carry_the_same_request_id() -> None:
    # Both upstream clients (retriever and generator) build their headers here.
    token = request_id_var.set("trace-7")
    try:
        assert request_headers()["x-request-id"] == "trace-7"
    finally:
        request_id_var.reset(token)
    assert "x-request-id" not in request_headers()


def test_logs_are_json_with_the_request_id_and_extra_fields() -> None:
    record = logging.LogRecord("tutorbook.chat", logging.INFO, __file__, 1, "chat", None, None)
    record.route = "rag"
    token = request_id_var.set("trace-9")
    try:
        line = json.loads(JsonFormatter("gateway").format(record))
    finally:
        request_id_var.reset(token)
    assert line["service"] == "gateway" and line["message"] == "chat" and line["level"] == "info"
    assert line["request_id"] == "trace-9" and line["route"] == "rag" and line["ts"].endswith("Z")
