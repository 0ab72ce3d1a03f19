"""ASGI middleware that gives vLLM's server the probes every Tutorbook service has.

``/healthz``: the process answers. ``/readyz``: vLLM's own ``/health`` (the engine is alive).
``/metrics`` is vLLM's own Prometheus endpoint and needs nothing here.
"""

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


class ProbeMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path") if scope.get("type") == "http" else None
        if path == HEALTHZ_PATH:
            await send_json_ok(send)
            return
        if path == READYZ_PATH:
            scope = dict(scope, path=VLLM_HEALTH_PATH, raw_path=VLLM_HEALTH_PATH.encode())
        await self.app(scope, receive, send)


async def send_json_ok(send: Send) -> None:
    body = b'{"status":"ok"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
