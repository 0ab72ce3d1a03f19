"""What one team's keys can reach of another's, through the gateway (on fakes of the retriever and the
generator): searches ask only for the team's documents and public ones, the answer cache is never shared
across teams (even with ``cache.scope=shared``), ratings only come from the answer's team, a team's
private adapter does not exist for other teams, and a team key's documents stay within its team."""

from collections.abc import Iterator

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.unit.fakes import ADMIN, TRIAGE_CARD, WARRANTY, FakeAdapterCatalog, FakeGenerator, FakeRetriever, chat
from tutorbook_config.service_settings import configured
from tutorbook_gateway.adapters.catalog import ActiveAdapter
from tutorbook_gateway.app import create_app
from tutorbook_gateway.routing import SMALL_TALK
from tutorbook_gateway.settings import GatewaySettings

PRIVATE_TRIAGE = msgspec.structs.replace(TRIAGE_CARD, teams=["alpha"])


@pytest.fixture
def retriever() -> FakeRetriever:
    return FakeRetriever([WARRANTY], route_matches={"triage": 0.8, SMALL_TALK: 0.1})


@pytest.fixture
def client(retriever: FakeRetriever) -> Iterator[TestClient[Litestar]]:
    settings = configured(
        GatewaySettings, keys__api_keys="user-key-for-tests-0001", keys__admin_keys="admin-key-for-tests-0001",
        shared__base_model_name="base", cache__scope="shared",
    )  # fmt: skip
    catalog = FakeAdapterCatalog({"triage": ActiveAdapter(PRIVATE_TRIAGE, 3)})
    app = create_app(settings, retriever=retriever, generator=FakeGenerator(), adapters=catalog)
    with TestClient(app) as test_client:
        for team in ("alpha", "beta"):
            assert test_client.post("/v1/admin/teams", json={"name": team}, headers=ADMIN).status_code == 201
        yield test_client


def key_of(client: TestClient[Litestar], team: str, *scopes: str) -> dict[str, str]:
    body = {"name": f"{team} app", "team": team, "scopes": list(scopes or ["chat"])}
    created = client.post("/v1/admin/keys", json=body, headers=ADMIN)
    return {"Authorization": f"Bearer {created.json()['key']}"}


def ask(client: TestClient[Litestar], key: dict[str, str], question: str, model: str = "auto") -> dict[str, object]:
    response = client.post("/v1/chat/completions", json=chat(question, model=model), headers=key)
    assert response.status_code == 200, response.text
    return dict(response.json()) | {"cache": response.headers.get("x-tutorbook-cache")}


def test_searches_ask_for_the_team_s_documents_and_the_cache_never_crosses_teams(
    client: TestClient[Litestar], retriever: FakeRetriever
) -> None:
    alpha, beta = key_of(client, "alpha"), key_of(client, "beta")
    question = "How long is the warranty?"
    assert ask(client, alpha, question)["cache"] == "miss"
    assert ask(client, key_of(client, "alpha"), question)["cache"] == "hit"  # shared within the team
    assert ask(client, beta, question)["cache"] == "miss"  # never across teams
    assert retriever.teams == ["alpha", "beta"]


def test_a_rating_comes_only_from_the_answer_s_team(client: TestClient[Litestar]) -> None:
    alpha, beta = key_of(client, "alpha"), key_of(client, "beta")
    answer = ask(client, alpha, "How long is the warranty?")
    foreign = client.post("/v1/feedback", json={"response_id": answer["id"], "rating": "down"}, headers=beta)
    assert foreign.status_code == 404
    own = client.post("/v1/feedback", json={"response_id": answer["id"], "rating": "up"}, headers=alpha)
    assert own.status_code == 201


def test_a_team_s_private_adapter_does_not_exist_for_other_teams(client: TestClient[Litestar]) -> None:
    alpha, beta = key_of(client, "alpha"), key_of(client, "beta")
    assert ask(client, alpha, "I was charged twice")["tutorbook"]["route"] == "adapter"  # type: ignore[index]
    assert ask(client, beta, "I was charged twice")["tutorbook"]["route"] != "adapter"  # type: ignore[index]
    named = client.post("/v1/chat/completions", json=chat("I was charged twice", model="triage"), headers=beta)
    assert named.status_code == 404 and named.json()["error"]["code"] == "model_not_found"
    listed = [model["id"] for model in client.get("/v1/models", headers=beta).json()["data"]]
    assert "triage" not in listed and "triage" in [
        m["id"] for m in client.get("/v1/models", headers=alpha).json()["data"]
    ]


def test_a_team_key_s_documents_stay_within_its_team(client: TestClient[Litestar], retriever: FakeRetriever) -> None:
    writer = key_of(client, "alpha", "documents")
    batch = {
        "documents": [{"id": "a", "text": "Alpha only."}, {"id": "b", "text": "All.", "access": ["alpha", "public"]}]
    }
    assert client.post("/v1/documents", json=batch, headers=writer).status_code == 200
    _, _, sent, query = retriever.forwarded[-1]
    assert [doc["access"] for doc in msgspec.json.decode(sent)["documents"]] == [["alpha"], ["alpha", "public"]]
    assert query == "visible_to=alpha,public&team=alpha"  # the retriever replaces only documents naming alpha
    for access in (["beta"], ["public"]):  # another team's, or one alpha could never change again
        other = {"documents": [{"id": "c", "text": "Not alpha's.", "access": access}]}
        refused = client.post("/v1/documents", json=other, headers=writer)
        assert refused.status_code == 403 and len(retriever.forwarded) == 1  # nothing reached the retriever
    client.get("/v1/documents", headers=writer)
    assert retriever.forwarded[-1][3] == "visible_to=alpha,public"
    client.delete("/v1/documents/a", headers=writer)
    assert retriever.forwarded[-1][3] == "visible_to=alpha,public&team=alpha"
    client.get("/v1/documents", headers=ADMIN)
    assert retriever.forwarded[-1][3] == ""  # an admin sees every team's
