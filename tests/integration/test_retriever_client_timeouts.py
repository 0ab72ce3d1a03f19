"""The gateway's retriever client over real HTTP: searches give up after the search timeout, document
writes (a whole batch embedded and committed before the retriever answers) wait for the write timeout, so
a slow batch that commits is never reported as failed."""

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from tutorbook_gateway.clients.breaker import CircuitBreaker
from tutorbook_gateway.clients.retriever import HttpRetrieverClient, retriever_session
from tutorbook_gateway.clients.upstream import UpstreamCallTimeoutError

SLOW_SECONDS = 0.6


async def slow(_request: web.Request) -> web.Response:
    await asyncio.sleep(SLOW_SECONDS)
    return web.json_response({"results": [], "chunks": 0, "index_version": 1})


@pytest_asyncio.fixture(loop_scope="function")
async def retriever_url() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v1/documents", slow)
    app.router.add_post("/v1/search", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.mark.asyncio(loop_scope="function")
async def test_a_slow_batch_is_waited_for_and_a_slow_search_is_not(retriever_url: str) -> None:
    async with retriever_session(retriever_url, 0.2, "tests-internal-token-0123456789") as session:
        client = HttpRetrieverClient(session, write_timeout_seconds=5.0, breaker=CircuitBreaker("retriever", 0, 1))
        written = await client.forward("POST", "/v1/documents", b'{"documents": []}', "")
        assert written.status_code == 200
        with pytest.raises(UpstreamCallTimeoutError):
            await client.search("warranty", 3, "default")
