"""ASGI middleware that gives vLLM's server the probes every Tutorbook service has, and the internal token
on every other path.

``/healthz``: the process answers. ``/readyz``: vLLM's own ``/health`` (the engine is alive).
``/metrics`` is vLLM's own Prometheus endpoint. Those three are open; every other path needs
``Authorization: Bearer <internal token>`` (``VLLM_API_KEY``, set by the launcher). vLLM itself guards
only ``/v1``, ``/v2``, ``/inference`` and ``/cohere``: ``/invocations`` (a whole chat completion),
``/tokenize``, ``/detokenize``, ``/pooling`` and the rest answered anyone who could reach the port.
"""

import hmac
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEALTHZ_PATH = "/healthz"
READYZ_PATH = "/readyz"
VLLM_HEALTH_PATH = "/health"
OPEN_PATHS = frozenset({HEALTHZ_PATH, READYZ_PATH, "/metrics"})
TOKEN_VARIABLE = "VLLM_API_KEY"


class ProbeMiddleware:
    def __init__(self, app: ASGIApp, token: str | None = None) -> None:
        self.app = app
        self._token = (os.environ.get(TOKEN_VARIABLE, "") if token is None else token).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path") if scope.get("type") == "http" else None
        if path == HEALTHZ_PATH:
            await send_json(send, 200, b'{"status":"ok"}')
            return
        if path is not None and path not in OPEN_PATHS and not self.authorized(scope):
            await send_json(send, 401, UNAUTHORIZED)
            return
        if path == READYZ_PATH:
            scope = dict(scope, path=VLLM_HEALTH_PATH, raw_path=VLLM_HEALTH_PATH.encode())
        await self.app(scope, receive, send)

    def authorized(self, scope: Scope) -> bool:
        if not self._token:
            return True  # no token configured (a bare vLLM run by hand): as vLLM itself behaves
        for name, value in scope.get("headers", []):
            if bytes(name).lower() == b"authorization":
                scheme, _, presented = bytes(value).partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(presented.strip(), self._token)
        return False


UNAUTHORIZED = b'{"error":{"message":"this internal service needs the internal token","type":"unauthorized"}}'


async def send_json(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
