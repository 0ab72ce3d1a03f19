"""``python -m tutorbook_devstack.bare_proxy UPSTREAM PORT``: the least a Python HTTP hop can cost.

A bare ASGI app on uvicorn that forwards each POST body to the upstream with aiohttp and returns its
answer: no routing, keys, state or metrics. ``make bench-gateway`` measures it beside vLLM directly and
the gateway, so that what the gateway's own work adds can be told apart from what any hop costs here.
"""

import sys
from typing import Any

import aiohttp
import uvicorn


class BareProxy:
    def __init__(self, upstream: str) -> None:
        self._upstream = upstream
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        assert self._session is not None
        headers = {"content-type": "application/json"}
        for name, value in scope["headers"]:
            if name == b"authorization":  # vLLM wants the internal token: passed on as it came
                headers["authorization"] = value.decode("latin-1")
        async with self._session.request(scope["method"], scope["path"], data=body, headers=headers) as response:
            answer = await response.read()
            status = response.status
        length = str(len(answer)).encode()
        start_headers = [(b"content-type", b"application/json"), (b"content-length", length)]
        await send({"type": "http.response.start", "status": status, "headers": start_headers})
        await send({"type": "http.response.body", "body": answer})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._session = aiohttp.ClientSession(base_url=self._upstream)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._session is not None:
                    await self._session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def main() -> None:
    upstream, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run(BareProxy(upstream), host="127.0.0.1", port=port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
