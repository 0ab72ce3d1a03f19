"""Sessions and the response cache on the real stack: real Redis, real retriever, real vLLM."""

import httpx
import pytest

from tests.e2e.conftest import ADMIN_KEY, API_KEY

pytestmark = pytest.mark.e2e
USER = {"Authorization": f"Bearer {API_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def ask(gateway_url: str, question: str, headers: dict[str, str] = USER) -> httpx.Response:
    body = {"model": "auto", "messages": [{"role": "user", "content": question}], "max_tokens": 32}
    response = httpx.post(f"{gateway_url}/v1/chat/completions", json=body, headers=headers, timeout=120)
    assert response.status_code == 200, response.text
    return response


def test_a_follow_up_in_a_session_is_answered_from_the_right_document(
    gateway_url: str, sample_knowledge_base: object
) -> None:
    session = {**USER, "x-tutorbook-session": "e2e-follow-up"}
    first = ask(gateway_url, "Tell me about the RoboGlide S7 robot vacuum.", session)
    assert first.json()["tutorbook"]["citations"][0]["doc_id"] == "roboglide-s7"
    follow_up = ask(gateway_url, "And how much does it cost?", session).json()["tutorbook"]
    assert follow_up["route"] == "rag"
    assert follow_up["citations"][0]["doc_id"] == "roboglide-s7"
    # Without the session the same words find no product to talk about.
    alone = ask(gateway_url, "And how much does it cost?").json()["tutorbook"]
    assert "roboglide-s7" not in [citation["doc_id"] for citation in alone["citations"]][:1]


def test_the_cache_serves_repeats_until_the_documents_change(gateway_url: str, sample_knowledge_base: object) -> None:
    question = "What is the price match policy?"
    assert ask(gateway_url, question).headers["x-tutorbook-cache"] == "miss"
    hit = ask(gateway_url, question)
    assert hit.headers["x-tutorbook-cache"] == "hit"
    probe = {"documents": [{"id": "e2e-cache-probe", "text": "Cache probe document.", "title": "Probe"}]}
    assert httpx.post(f"{gateway_url}/v1/documents", json=probe, headers=ADMIN, timeout=60).status_code == 200
    try:
        assert ask(gateway_url, question).headers["x-tutorbook-cache"] == "miss"
        assert ask(gateway_url, question).headers["x-tutorbook-cache"] == "hit"
    finally:
        httpx.delete(f"{gateway_url}/v1/documents/e2e-cache-probe", headers=ADMIN, timeout=60)
    assert ask(gateway_url, question).headers["x-tutorbook-cache"] == "miss"
