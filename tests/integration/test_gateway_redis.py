"""The gateway's readiness follows a real Redis going away and coming back."""

from litestar.testing import TestClient

from tests.conftest import RedisServer
from tests.unit.fakes import FakeGenerator, FakeRetriever
from tutorbook_gateway.app import create_app
from tutorbook_gateway.settings import GatewaySettings


def test_readiness_reports_redis(redis_server: RedisServer) -> None:
    settings = GatewaySettings(api_keys="k", redis_url=redis_server.url)
    with TestClient(create_app(settings, retriever=FakeRetriever([]), generator=FakeGenerator())) as client:
        assert client.get("/readyz").status_code == 200
        redis_server.stop()
        down = client.get("/readyz")
        assert down.status_code == 503 and down.json()["checks"]["redis"].startswith("failed")
        redis_server.start()
        assert client.get("/readyz").json()["checks"]["redis"] == "ok"
