"""Two teams on the real stack, each with a private document about a product of its own, beside the shared
public knowledge base. Team B's questions aimed at team A's private facts (asked directly, paraphrased,
in a follow-up turn, after team A cached the same question, and where the "not sure" suggestions would
name it) never show A's text, title or citation; team A's own questions do find them. The facts are codes
no model could guess, so they can only come from the document."""

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ADMIN_KEY

pytestmark = pytest.mark.e2e
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@dataclass(frozen=True)
class Team:
    name: str
    key: dict[str, str]
    doc_id: str
    title: str
    secret: str  # the fact only its document holds


def make_team(gateway_url: str, name: str, product: str) -> Team:
    assert httpx.post(f"{gateway_url}/v1/admin/teams", json={"name": name}, headers=ADMIN).status_code == 201
    body = {"name": f"{name} helpdesk", "team": name, "scopes": ["chat", "documents"]}
    key = httpx.post(f"{gateway_url}/v1/admin/keys", json=body, headers=ADMIN).json()["key"]
    secret = f"{secrets.choice(['KESTREL', 'OSPREY', 'PLOVER'])}-{secrets.randbelow(9000) + 1000}"
    title = f"{product} service manual"
    text = (
        f"# {title}\n\nThe {product} is sold only to {name} customers. The service code of the {product} is "
        f"{secret}. Technicians enter the service code {secret} to unlock the {product}'s diagnostics menu."
    )
    team = Team(name, {"Authorization": f"Bearer {key}"}, f"{name}-manual", title, secret)
    document = {"id": team.doc_id, "title": title, "text": text}  # no access list: the team's own
    ingested = httpx.post(f"{gateway_url}/v1/documents", json={"documents": [document]}, headers=team.key, timeout=120)
    assert ingested.status_code == 200, ingested.text
    return team


@pytest.fixture(scope="module")
def teams(gateway_url: str, sample_knowledge_base: object) -> Iterator[tuple[Team, Team]]:
    suffix = secrets.token_hex(3)
    alpha = make_team(gateway_url, f"alpha-{suffix}", "Zephyr X9 blender")
    beta = make_team(gateway_url, f"beta-{suffix}", "Quill Q3 kettle")
    yield alpha, beta
    for team in (alpha, beta):
        httpx.delete(f"{gateway_url}/v1/documents/{team.doc_id}", headers=ADMIN, timeout=60)


def chat(gateway_url: str, team: Team, question: str, session: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "auto", "messages": [{"role": "user", "content": question}], "max_tokens": 48}
    if session:
        body["tutorbook"] = {"session_id": session}
    response = httpx.post(f"{gateway_url}/v1/chat/completions", json=body, headers=team.key, timeout=300)
    assert response.status_code == 200, response.text
    return dict(response.json()) | {"cache": response.headers.get("x-tutorbook-cache")}


def assert_nothing_of(team: Team, answer: dict[str, Any]) -> None:
    """Nothing of ``team``'s private document anywhere in the answer: text, citations, quotes, suggestions."""
    seen = str(answer)
    assert team.secret not in seen and team.title not in seen and team.doc_id not in seen, answer


def test_one_team_never_sees_another_team_s_private_documents(gateway_url: str, teams: tuple[Team, Team]) -> None:
    alpha, beta = teams
    direct = f"What is the service code of the {alpha.title.removesuffix(' service manual')}?"
    own = chat(gateway_url, alpha, direct)
    assert alpha.doc_id in str(own["tutorbook"].get("citations")), own  # the owners find it
    assert_nothing_of(beta, own)
    for question in (
        direct,
        "Which code unlocks the diagnostics menu of the Zephyr blender?",  # paraphrased
        f"{alpha.title}",  # its title, as a search would
    ):
        assert_nothing_of(alpha, chat(gateway_url, beta, question))
    session = f"e2e-teams-{secrets.token_hex(4)}"
    chat(gateway_url, beta, "Tell me about blenders.", session)
    assert_nothing_of(alpha, chat(gateway_url, beta, "And what is its service code?", session))  # a follow-up


def test_a_cached_answer_of_one_team_is_never_served_to_another(gateway_url: str, teams: tuple[Team, Team]) -> None:
    alpha, beta = teams
    question = f"What does a technician enter to unlock the {alpha.title.removesuffix(' service manual')}?"
    chat(gateway_url, alpha, question)
    assert chat(gateway_url, alpha, question)["cache"] == "hit"  # cached for team A
    answered = chat(gateway_url, beta, question)
    assert answered["cache"] == "miss"
    assert_nothing_of(alpha, answered)


def test_the_not_sure_suggestions_name_only_what_the_team_may_see(gateway_url: str, teams: tuple[Team, Team]) -> None:
    alpha, beta = teams
    answered = chat(gateway_url, beta, "service code diagnostics menu technicians unlock")
    assert_nothing_of(alpha, answered)
    for suggestion in answered["tutorbook"].get("suggestions") or []:
        assert alpha.title not in suggestion
    listed = httpx.get(f"{gateway_url}/v1/documents", headers=beta.key, timeout=30).json()
    assert alpha.doc_id not in str(listed) and beta.doc_id in str(listed)
    assert httpx.get(f"{gateway_url}/v1/documents/{alpha.doc_id}", headers=beta.key, timeout=30).status_code == 404
    assert httpx.delete(f"{gateway_url}/v1/documents/{alpha.doc_id}", headers=beta.key, timeout=30).status_code == 404


def test_a_team_cannot_take_over_another_team_s_document_by_its_id(gateway_url: str, teams: tuple[Team, Team]) -> None:
    alpha, beta = teams
    takeover = {"documents": [{"id": alpha.doc_id, "title": "Mine now", "text": "Nothing to see here."}]}
    refused = httpx.post(f"{gateway_url}/v1/documents", json=takeover, headers=beta.key, timeout=60)
    assert refused.status_code == 403, refused.text
    kept = httpx.get(f"{gateway_url}/v1/documents/{alpha.doc_id}", headers=alpha.key, timeout=30).json()
    assert kept["title"] == alpha.title and kept["access"] == [alpha.name]
