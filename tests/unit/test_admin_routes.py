"""Teams and keys through the admin API: only admins may manage them; a new key works at once, for its
team and its scopes only, and stops working when revoked; the secret is in the creating answer only."""

from litestar import Litestar
from litestar.testing import TestClient

from tests.unit.fakes import ADMIN, USER, chat


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def new_key(client: TestClient[Litestar], **request: object) -> dict[str, object]:
    response = client.post("/v1/admin/keys", json={"name": "app", **request}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_only_admins_manage_keys(client: TestClient[Litestar]) -> None:
    refused = client.post("/v1/admin/keys", json={"name": "mine"}, headers=USER)
    assert refused.status_code == 403 and "'admin' scope" in refused.json()["error"]["message"]
    assert client.get("/v1/admin/audit", headers=USER).status_code == 403


def test_a_new_key_chats_for_its_team_until_revoked(client: TestClient[Litestar]) -> None:
    assert client.post("/v1/admin/teams", json={"name": "support"}, headers=ADMIN).status_code == 201
    created = new_key(client, team="support")
    secret = str(created["key"])
    me = client.get("/v1/me", headers=bearer(secret)).json()
    assert me["team"] == "support" and me["scopes"] == ["chat"] and me["role"] == "user"
    assert (
        client.post("/v1/chat/completions", json=chat("How long is the warranty?"), headers=bearer(secret)).status_code
        == 200
    )
    listed = client.get("/v1/admin/keys?team=support", headers=ADMIN).json()["data"]
    assert [key["prefix"] for key in listed] == [created["prefix"]] and secret not in str(listed)
    assert client.delete(f"/v1/admin/keys/{created['prefix']}", headers=ADMIN).status_code == 200
    refused = client.get("/v1/me", headers=bearer(secret))
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    actions = [entry["action"] for entry in client.get("/v1/admin/audit", headers=ADMIN).json()["data"]]
    assert actions[:3] == ["key.revoke", "key.create", "team.create"]


def test_a_key_may_only_do_what_its_scopes_and_models_say(client: TestClient[Litestar]) -> None:
    writer = str(new_key(client, scopes=["documents"])["key"])
    answer = client.post("/v1/chat/completions", json=chat("hello"), headers=bearer(writer))
    assert answer.status_code == 403 and "'chat' scope" in answer.json()["error"]["message"]
    pinned = str(new_key(client, models=["base"])["key"])
    assert (
        client.post("/v1/chat/completions", json=chat("hello", model="base"), headers=bearer(pinned)).status_code == 200
    )
    refused = client.post("/v1/chat/completions", json=chat("hello"), headers=bearer(pinned))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "model_not_allowed"


def test_bad_admin_requests_are_4xx_and_store_nothing(client: TestClient[Litestar]) -> None:
    assert client.post("/v1/admin/keys", json={"name": "x", "team": "nobody"}, headers=ADMIN).status_code == 404
    assert client.post("/v1/admin/keys", json={"name": "x", "scopes": ["root"]}, headers=ADMIN).status_code == 400
    assert client.post("/v1/admin/keys", json={"name": "x", "surprise": 1}, headers=ADMIN).status_code == 400
    assert client.post("/v1/admin/teams", json={"name": "No Spaces"}, headers=ADMIN).status_code == 400
    assert client.post("/v1/admin/keys/tbk_0000000000/rotate", json={}, headers=ADMIN).status_code == 404
    assert client.get("/v1/admin/keys", headers=ADMIN).json()["data"] == []


def test_a_key_s_own_rate_limit_applies_to_it_alone(client: TestClient[Litestar]) -> None:
    limited = bearer(str(new_key(client, limits={"requests_per_minute": 1})["key"]))
    first = client.post("/v1/chat/completions", json=chat("How long is the warranty?"), headers=limited)
    second = client.post("/v1/chat/completions", json=chat("And returns?"), headers=limited)
    assert first.status_code == 200 and second.status_code == 429 and "retry-after" in second.headers
    assert client.post("/v1/chat/completions", json=chat("And returns?"), headers=USER).status_code == 200


def test_document_and_adapter_changes_are_audited_with_their_outcome(client: TestClient[Litestar]) -> None:
    documents = {"documents": [{"id": "warranty", "text": "Two years."}]}
    client.post("/v1/documents", json=documents, headers=ADMIN)
    refused = client.post("/v1/adapters", files={"file": ("a.tar.gz", b"not an archive")}, headers=ADMIN)
    assert 400 <= refused.status_code < 500
    entries = client.get("/v1/admin/audit", headers=ADMIN).json()["data"]
    upload, ingest = entries[0], entries[1]
    assert upload["action"] == "adapter.upload" and upload["outcome"].startswith(f"refused: {refused.status_code}")
    assert ingest["action"] == "documents.ingest" and ingest["details"]["ids"] == ["warranty"]


def test_ratings_take_from_the_key_s_requests_per_minute(client: TestClient[Litestar]) -> None:
    """A rating is stored for 30 days: a key may not send them faster than its requests."""
    limited = bearer(str(new_key(client, limits={"requests_per_minute": 2})["key"]))
    answer = client.post("/v1/chat/completions", json=chat("How long is the warranty?"), headers=limited).json()
    first = client.post("/v1/feedback", json={"response_id": answer["id"], "rating": "up"}, headers=limited)
    second = client.post("/v1/feedback", json={"response_id": answer["id"], "rating": "down"}, headers=limited)
    assert first.status_code == 201 and second.status_code == 429


def test_no_key_can_fill_the_shared_state_with_conversations(client: TestClient[Litestar]) -> None:
    """As a new user would try it: a new session for every request, long turns. The key's byte budget
    ends it with a 429 naming the budget; another key's conversations go on."""
    greedy = bearer(str(new_key(client, limits={"state_bytes": 50_000})["key"]))
    statuses = []
    for number in range(30):
        body = chat("x" * 3990, tutorbook={"session_id": f"s{number}"})
        statuses.append(client.post("/v1/chat/completions", json=body, headers=greedy).status_code)
    assert statuses[:3] == [200] * 3 and statuses[-1] == 429, statuses
    refused = client.post("/v1/chat/completions", json=chat("hi", tutorbook={"session_id": "new"}), headers=greedy)
    assert "bytes of kept state" in refused.json()["error"]["message"] and refused.headers["retry-after"]
    assert client.post("/v1/chat/completions", json=chat("hi"), headers=greedy).status_code == 200  # keeps nothing
    other = client.post("/v1/chat/completions", json=chat("hi", tutorbook={"session_id": "mine"}), headers=USER)
    assert other.status_code == 200
