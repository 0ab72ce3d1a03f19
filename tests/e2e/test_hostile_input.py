"""Hand-written bad input, for what schema-driven generators miss, sent as raw bytes to the real gateway:
bodies that are not UTF-8, nesting deeper than any decoder allows, numbers beyond any type, wrong content
types, duplicate keys, lying lengths, and every header the gateway reads (authorization, x-request-id,
x-tutorbook-session, content-type, content-length) with hostile values. Each gets a clear 4xx (or, where
the value is merely ignored, an answer), never a 5xx and never a dropped connection."""

import json
import re
import socket
import time

import pytest

from tests.e2e.conftest import ADMIN_KEY, API_KEY
from tutorbook_devstack.stack import Stack

pytestmark = pytest.mark.e2e
CHAT = b"/v1/chat/completions"
GOOD = b'{"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}'


def chat_body(extra: bytes) -> bytes:
    return b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2' + extra + b"}"


def send_raw(stack: Stack, body: bytes, path: bytes = CHAT, **headers: bytes) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request written byte for byte; the status, headers and body of the answer."""
    fields = {
        "authorization": b"Bearer " + API_KEY.encode(),
        "content-type": b"application/json",
        "content-length": str(len(body)).encode(),
        **{name.replace("_", "-"): value for name, value in headers.items()},
    }
    head = b"POST " + path + b" HTTP/1.1\r\nhost: gateway\r\nconnection: close\r\n"
    head += b"".join(name.encode() + b": " + value + b"\r\n" for name, value in fields.items())
    with socket.create_connection((stack.config.host, stack.config.gateway_port), timeout=120) as connection:
        connection.sendall(head + b"\r\n" + body)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer, "the connection was closed without an answer"
    status_line, _, rest = answer.partition(b"\r\n")
    header_block, _, content = rest.partition(b"\r\n\r\n")
    answer_headers = dict(line.decode("latin-1").lower().split(": ", 1) for line in header_block.split(b"\r\n"))
    return int(status_line.split()[1]), answer_headers, content


def error_message(content: bytes) -> str:
    return str(json.loads(content)["error"]["message"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (chat_body(b', "user": "\xff\xfe"'), "not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (chat_body(b', "metadata": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3000), "nested too deeply"),
        (chat_body(b', "temperature": 1e999'), "out of range"),
        (chat_body(b', "seed": 1' + b"0" * 400), ""),
        (chat_body(b', "top_p": NaN'), "malformed"),
        (chat_body(b', "n": -99999999999999999999999'), ""),
        (b'{"model": "auto", "messages": [{"role": "user", "content": "hi"}', "truncated"),
        (b"model=auto&messages=hi", "malformed"),
        (b"", ""),
    ],
)
def test_bodies_no_decoder_should_accept_get_a_400(stack: Stack, body: bytes, message: str) -> None:
    status, _, content = send_raw(stack, body)
    assert status == 400, content
    assert message in error_message(content)


def test_a_document_body_that_is_not_utf8_is_refused_by_the_retriever_too(stack: Stack) -> None:
    body = b'{"documents": [{"id": "hostile", "title": "x", "text": "\xff\xfe"}]}'
    status, _, content = send_raw(stack, body, b"/v1/documents", authorization=b"Bearer " + ADMIN_KEY.encode())
    assert status == 400 and "UTF-8" in error_message(content), content


def test_duplicate_keys_and_odd_content_types_never_fail_the_server(stack: Stack) -> None:
    duplicated = GOOD.replace(b'{"model"', b'{"model": "no-such-model", "model"')
    assert send_raw(stack, duplicated)[0] == 200  # the last one counts, as in every JSON decoder here
    for content_type in (b"text/plain", b"application/json; charset=latin-1", b"application/json; " + b"a=b;" * 2000):
        assert send_raw(stack, GOOD, content_type=content_type)[0] in (200, 400, 415)
    status, _, content = send_raw(stack, b"--x--\r\n", content_type=b"multipart/form-data; boundary=x")
    assert 400 <= status < 500, content


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (b"Bearer " + b"k" * 10_000, 401),
        (b"Bearer " + "é".encode("latin-1") * 20, 401),
        (b"Basic dXNlcjpwYXNz", 401),
        (b"Bearer", 401),
        (b"", 401),
        (b"Bearer " + API_KEY.encode() + b"x", 401),
    ],
)
def test_hostile_authorization_headers_get_a_401(stack: Stack, authorization: bytes, status: int) -> None:
    answer_status, _, content = send_raw(stack, GOOD, authorization=authorization)
    assert answer_status == status, content


@pytest.mark.parametrize("request_id", [b"a" * 10_000, "é".encode("latin-1") * 4, b"id with spaces", b"../../x"])
def test_a_hostile_request_id_is_replaced_never_echoed(stack: Stack, request_id: bytes) -> None:
    status, headers, _ = send_raw(stack, GOOD, x_request_id=request_id)
    assert status == 200 and re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])


@pytest.mark.parametrize("session", [b"../../etc/passwd", b"s" * 10_000, "é".encode("latin-1"), b"a b", b"a\tb"])
def test_a_hostile_session_header_gets_a_400(stack: Stack, session: bytes) -> None:
    status, _, content = send_raw(stack, GOOD, x_tutorbook_session=session)
    assert status == 400 and "session_id" in error_message(content)


@pytest.mark.parametrize("length", [b"abc", b"-5", b"99999999999999999999", b"1, 2"])
def test_an_unreadable_content_length_gets_a_4xx(stack: Stack, length: bytes) -> None:
    status, _, _ = send_raw(stack, GOOD, content_length=length)
    assert 400 <= status < 500


def test_a_body_shorter_than_its_content_length_is_not_answered_as_complete(stack: Stack) -> None:
    """The client sends part of what it announced and stops: after the read timeout the gateway answers
    (4xx) or closes; it never decodes a truncated body as if it were whole."""
    with socket.create_connection((stack.config.host, stack.config.gateway_port), timeout=60) as connection:
        head = f"POST /v1/chat/completions HTTP/1.1\r\nhost: g\r\nauthorization: Bearer {API_KEY}\r\n"
        head += f"content-type: application/json\r\ncontent-length: {len(GOOD) + 100}\r\n\r\n"
        connection.sendall(head.encode() + GOOD)
        connection.shutdown(socket.SHUT_WR)
        answer = connection.recv(65536)
    assert not answer.startswith(b"HTTP/1.1 2") and not answer.startswith(b"HTTP/1.1 5")


def test_a_connection_idle_longer_than_retry_after_is_still_open(stack: Stack) -> None:
    """A client told to retry after 5 s, waiting that long and reusing its pooled connection, must not find
    it closed under its request (the server's keep-alive outlasts Retry-After and the clients' pools)."""
    with socket.create_connection((stack.config.host, stack.config.gateway_port), timeout=10) as connection:
        request = f"GET /healthz HTTP/1.1\r\nHost: {stack.config.host}\r\n\r\n".encode()
        connection.sendall(request)
        assert whole_response(connection).startswith(b"HTTP/1.1 200")
        time.sleep(6)  # idle past uvicorn's 5 s default on purpose: the time is what is tested
        connection.sendall(request)
        assert whole_response(connection).startswith(b"HTTP/1.1 200"), "the gateway closed an idle connection"


def whole_response(connection: socket.socket) -> bytes:
    """One HTTP response, head and body: the head and the body may come in separate reads, and a body left
    unread would be taken for the next response."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(4096)
        if not chunk:
            return received  # closed
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    while len(body) < length:
        chunk = connection.recv(4096)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body
