"""Generator replicas for hot-loading, found through DNS (a Kubernetes headless service resolves to
every pod; here the name is localhost)."""

import aiohttp
from aiohttp import web

from tutorbook_gateway.adapters.loading import ReplicaModels, VllmAdapterLoader, replica_urls


async def test_every_address_of_the_dns_name_is_a_replica() -> None:
    found = await replica_urls(["http://configured:8002"], "localhost", 8002)
    assert found[0] == "http://configured:8002"
    assert "http://127.0.0.1:8002" in found[1:]


async def test_the_listing_shows_what_each_replica_serves_and_never_fails_on_one(unused_tcp_port: int) -> None:
    """One replica lists its models; one answers something that is no model list; one is not there; a DNS
    name that does not resolve. Each is shown for what it is, and the listing itself never fails."""

    async def models(_: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "base"}, {"id": "triage@2"}]})

    async def not_a_list(_: web.Request) -> web.Response:
        return web.json_response(["base"])

    app = web.Application()
    app.router.add_get("/good/v1/models", models)
    app.router.add_get("/odd/v1/models", not_a_list)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    base = f"http://127.0.0.1:{unused_tcp_port}"
    try:
        async with aiohttp.ClientSession() as session:
            urls = [f"{base}/good", f"{base}/odd", "http://127.0.0.1:9"]
            good, odd, absent = await VllmAdapterLoader(session, urls).served()
            unresolved = await VllmAdapterLoader(session, [], dns_name="no-such-host.invalid").served()
    finally:
        await runner.cleanup()
    assert good == ReplicaModels(f"{base}/good", True, ("base", "triage@2"))
    assert not odd.reachable and "not a model list" in odd.detail
    assert not absent.reachable and absent.detail
    assert len(unresolved) == 1 and not unresolved[0].reachable
