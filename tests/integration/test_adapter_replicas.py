"""Generator replicas for hot-loading, found through DNS (a Kubernetes headless service resolves to
every pod; here the name is localhost)."""

from tutorbook_gateway.adapters.loading import replica_urls


async def test_every_address_of_the_dns_name_is_a_replica() -> None:
    found = await replica_urls(["http://configured:8002"], "localhost", 8002)
    assert found[0] == "http://configured:8002"
    assert "http://127.0.0.1:8002" in found[1:]
