"""The gateway's state through its HTTP API: sessions, the cache, rate limits and feedback, each test run
with the in-memory store and with a real redis-server (the retriever and generator are fakes here)."""

import hashlib
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from tests.conftest import RedisServer, eventually, free_port
from tests.unit.fakes import (
    ADMIN,
    RETURNS,
    STYLE_CARD,
    USER,
    WARRANTY,
    FakeAdapterCatalog,
    FakeGenerator,
    FakeRetriever,
)
from tutorbook_config.service_settings import configured
from tutorbook_gateway.adapters.catalog import ActiveAdapter
from tutorbook_gateway.app import create_app
from tutorbook_gateway.settings import GatewaySettings
from tutorbook_service.errors import UpstreamError

OTHER_USER = {"Authorization": "Bearer other-key-for-tests-0001"}


@pytest.fixture(params=["memory", "redis"])
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "memory":
        yield ""
        return
    server = RedisServer(free_port())
    server.start()
    yield server.url
    server.stop()


class Gateway:
    def __init__(self, redis_url: str, retriever: FakeRetriever | None = None, **overrides: Any) -> None:
        self.retriever = retriever or FakeRetriever([WARRANTY, RETURNS])
        self.generator = FakeGenerator()
        self.catalog = FakeAdapterCatalog({"style": ActiveAdapter(STYLE_CARD, 1)})
        self.scratch = tempfile.TemporaryDirectory(prefix="tutorbook-test-")  # removed with this object
        settings = configured(
            GatewaySettings,
            keys__api_keys="user-key-for-tests-0001,other-key-for-tests-0001",
            keys__admin_keys="admin-key-for-tests-0001",
            shared__base_model_name="base",
            shared__redis_url=redis_url,
            router__rag_min_score=0.5,
            shared__data_dir=Path(self.scratch.name),
            # what the gateway does with Redis, not how fast: on a loaded machine (CI runs the e2e tier beside
            # these) a Redis call can outlast the 0.5 s default; test_hung_redis.py tests the timeout itself
            **{"state__redis_timeout_seconds": 5.0, **overrides},
        )
        self.app = create_app(settings, retriever=self.retriever, generator=self.generator, adapters=self.catalog)

    def client(self) -> TestClient[Litestar]:
        return TestClient(self.app)


def ask(client: TestClient[Litestar], text: str, headers: dict[str, str] = USER, **extra: Any) -> Any:
    body = {"model": "auto", "messages": [{"role": "user", "content": text}], **extra}
    return client.post("/v1/chat/completions", json=body, headers=headers)


def metric(client: TestClient[Litestar], line_start: str) -> float:
    lines = [line for line in client.get("/metrics").text.splitlines() if line.startswith(line_start)]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


def test_a_session_carries_the_conversation_and_follow_ups_search_with_it(redis_url: str) -> None:
    gateway = Gateway(redis_url)
    with gateway.client() as client:
        session = {**USER, "x-tutorbook-session": "chat-1"}
        first = ask(client, "Tell me about the AeroPure 300", session)
        assert first.headers["x-tutorbook-session"] == "chat-1"
        ask(client, "and how much does it cost?", session)
        assert gateway.retriever.queries[-1] == "Tell me about the AeroPure 300 and how much does it cost?"
        sent = gateway.generator.payloads[-1]["messages"]
        assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
        assert sent[1]["content"] == "Tell me about the AeroPure 300" and sent[2]["content"] == "Two years [1]."
        # The same session id under another key is another conversation; the body field works too.
        ask(client, "and how much does it cost?", OTHER_USER, tutorbook={"session_id": "chat-1"})
        assert gateway.retriever.queries[-1] == "and how much does it cost?"
        bad = ask(client, "hi", {**USER, "x-tutorbook-session": "no spaces allowed"})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "tutorbook.session_id"


def test_deterministic_answers_are_cached_and_counted(redis_url: str) -> None:
    gateway = Gateway(redis_url)
    with gateway.client() as client:
        miss = ask(client, "How long is the warranty?")
        hit = ask(client, "  How long is   the warranty? ")  # normalised whitespace: the same request
        assert (miss.headers["x-tutorbook-cache"], hit.headers["x-tutorbook-cache"]) == ("miss", "hit")
        assert len(gateway.generator.payloads) == 1
        assert hit.json()["choices"] == miss.json()["choices"] and hit.json()["id"] != miss.json()["id"]
        assert hit.json()["tutorbook"]["route"] == "rag"
        sampled = ask(client, "How long is the warranty?", temperature=0.8)
        assert "x-tutorbook-cache" not in sampled.headers  # not deterministic: never cached
        seeded = [ask(client, "How long is the warranty?", temperature=0.8, seed=5) for _ in range(2)]
        assert [r.headers["x-tutorbook-cache"] for r in seeded] == ["miss", "hit"]
        assert metric(client, 'tutorbook_gateway_cache_lookups_total{result="hit"}') == 2
        assert metric(client, 'tutorbook_gateway_cache_lookups_total{result="bypass"}') == 1


def test_a_cached_answer_is_never_served_after_the_documents_change(redis_url: str) -> None:
    gateway = Gateway(redis_url)
    with gateway.client() as client:
        assert ask(client, "How long is the warranty?").headers["x-tutorbook-cache"] == "miss"
        assert ask(client, "How long is the warranty?").headers["x-tutorbook-cache"] == "hit"
        gateway.retriever.version = 2  # a document was ingested or deleted
        assert ask(client, "How long is the warranty?").headers["x-tutorbook-cache"] == "miss"
        assert ask(client, "How long is the warranty?").headers["x-tutorbook-cache"] == "hit"
        assert metric(client, 'tutorbook_gateway_cache_lookups_total{result="stale"}') == 1
        assert len(gateway.generator.payloads) == 2


def test_a_cached_answer_is_never_served_after_the_adapter_changes(redis_url: str) -> None:
    gateway = Gateway(redis_url)
    with gateway.client() as client:
        for expected in ("miss", "hit"):
            response = ask(client, "Write about the warranty", model="style")
            assert response.headers["x-tutorbook-cache"] == expected
        gateway.catalog.adapters["style"] = ActiveAdapter(STYLE_CARD, 2)  # a new version was activated
        response = ask(client, "Write about the warranty", model="style")
        assert response.headers["x-tutorbook-cache"] == "miss"
        assert gateway.generator.payloads[-1]["model"] == "style@2"


def test_a_streamed_answer_is_cached_and_replayed_as_a_stream(redis_url: str) -> None:
    gateway = Gateway(redis_url)
    with gateway.client() as client:
        body = {"model": "auto", "messages": [{"role": "user", "content": "warranty?"}], "stream": True}
        for expected in ("miss", "hit"):
            with client.stream("POST", "/v1/chat/completions", json=body, headers=USER) as response:
                assert response.headers["x-tutorbook-cache"] == expected
                text = "".join(response.iter_lines())
            assert "Two" in text and text.endswith("data: [DONE]")
        assert len(gateway.generator.streams) == 1


def test_rate_limits_answer_429_with_retry_after(redis_url: str) -> None:
    gateway = Gateway(redis_url, limits__requests_per_minute=2)
    with gateway.client() as client:
        assert [ask(client, f"question {i}").status_code for i in range(2)] == [200, 200]
        refused = ask(client, "one too many")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        error = refused.json()["error"]
        assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
        assert ask(client, "another key has its own budget", OTHER_USER).status_code == 200
        assert metric(client, "tutorbook_gateway_rate_limited_requests_total") == 1


def test_feedback_is_stored_with_the_route_and_counted(redis_url: str) -> None:
    gateway = Gateway(redis_url)
    with gateway.client() as client:
        answer = ask(client, "How long is the warranty?").json()
        rated = client.post("/v1/feedback", json={"response_id": answer["id"], "rating": "up"}, headers=USER)
        assert rated.status_code == 201 and rated.json()["route"] == "rag"
        again = client.post("/v1/feedback", json={"response_id": answer["id"], "rating": "down"}, headers=USER)
        assert again.status_code == 409
        unknown = client.post("/v1/feedback", json={"response_id": "chatcmpl-nope", "rating": "up"}, headers=USER)
        assert unknown.status_code == 404
        bad = client.post("/v1/feedback", json={"response_id": answer["id"], "rating": "meh"}, headers=USER)
        assert bad.status_code == 400
        assert client.get("/v1/feedback", headers=USER).status_code == 403
        listed = client.get("/v1/feedback", headers=ADMIN).json()["data"]
        assert [(item["response_id"], item["rating"]) for item in listed] == [(answer["id"], "up")]
        assert metric(client, 'tutorbook_gateway_feedback_total{rating="up",route="rag"}') == 1


def test_a_keys_own_limits_override_the_default(redis_url: str) -> None:
    """TUTORBOOK_GATEWAY_LIMITS__OVERRIDES names a key by its fingerprint (first 16 hex digits of its SHA-256)."""
    other = hashlib.sha256(b"other-key-for-tests-0001").hexdigest()[:16]
    overrides = json.dumps({other: {"requests_per_minute": 100}})
    gateway = Gateway(redis_url, limits__requests_per_minute=1, limits__overrides=overrides)
    with gateway.client() as client:
        assert [ask(client, f"question {n}").status_code for n in range(2)] == [200, 429]
        assert [ask(client, f"question {n}", OTHER_USER).status_code for n in range(5)] == [200] * 5


def test_recent_feedback_is_listed_newest_first_up_to_the_limit(redis_url: str) -> None:
    gateway = Gateway(redis_url)
    with gateway.client() as client:
        ids = [ask(client, question).json()["id"] for question in ("warranty?", "returns?")]
        for response_id in ids:
            client.post("/v1/feedback", json={"response_id": response_id, "rating": "up"}, headers=USER)
        newest = client.get("/v1/feedback", params={"limit": 1}, headers=ADMIN).json()["data"]
        assert [item["response_id"] for item in newest] == [ids[1]]
        assert client.get("/v1/feedback", params={"limit": 0}, headers=ADMIN).status_code == 400


def test_feedback_is_kept_only_for_its_lifetime(redis_url: str) -> None:
    """An answer older than TUTORBOOK_GATEWAY_STATE__FEEDBACK_TTL_SECONDS can no longer be rated, and ratings expire.
    (Three seconds: an answer's ``created`` is a whole second, so a one-second lifetime could end before
    a busy machine gets the first rating in.)"""
    lifetime = 3
    gateway = Gateway(redis_url, state__feedback_ttl_seconds=lifetime)
    with gateway.client() as client:
        rated = ask(client, "How long is the warranty?").json()
        assert (
            client.post("/v1/feedback", json={"response_id": rated["id"], "rating": "up"}, headers=USER).status_code
            == 201
        )
        late = ask(client, "How long is the return window?").json()
        # Wait on the conditions, not a guess: the late answer's lifetime is over by the clock (rating it
        # now would store a rating if it were not), and Redis has let the first rating go.
        eventually(lambda: time.time() > late["created"] + lifetime, 10, "the late answer's lifetime to end")
        too_old = client.post("/v1/feedback", json={"response_id": late["id"], "rating": "up"}, headers=USER)
        assert too_old.status_code == 404 and "too old" in too_old.json()["error"]["message"]

        def nothing_listed() -> bool:
            return bool(client.get("/v1/feedback", headers=ADMIN).json()["data"] == [])

        eventually(nothing_listed, 10, "the rating to expire with its answer")


def test_feedback_can_be_switched_off(redis_url: str) -> None:
    gateway = Gateway(redis_url, state__feedback_enabled=False)
    with gateway.client() as client:
        answer = ask(client, "How long is the warranty?").json()
        rated = client.post("/v1/feedback", json={"response_id": answer["id"], "rating": "up"}, headers=USER)
        assert rated.status_code == 404 and "switched off" in rated.json()["error"]["message"]
        assert client.get("/v1/feedback", headers=ADMIN).status_code == 404


def test_the_semantic_cache_answers_rephrased_questions_at_the_same_index_version(redis_url: str) -> None:
    gateway = Gateway(redis_url, cache__semantic_enabled=True, cache__semantic_min_similarity=0.9)
    with gateway.client() as client:
        assert ask(client, "How long is the warranty?").headers["x-tutorbook-cache"] == "miss"
        rephrased = ask(client, "how long is the WARRANTY")
        assert rephrased.headers["x-tutorbook-cache"] == "semantic-hit"
        # Another key's similar question is not answered from this key's answer (the cache is per key).
        assert ask(client, "HOW LONG IS THE WARRANTY?", OTHER_USER).headers["x-tutorbook-cache"] == "miss"
        assert ask(client, "How long is the return window?").headers["x-tutorbook-cache"] == "miss"
        multi_turn = {"model": "auto", "messages": [
            {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "how long is the warranty"},
        ]}  # fmt: skip
        response = client.post("/v1/chat/completions", json=multi_turn, headers=USER)
        assert response.headers["x-tutorbook-cache"] == "miss"  # only single questions stand in for each other
        gateway.retriever.version = 2
        assert ask(client, "HOW long is the warranty").headers["x-tutorbook-cache"] == "miss"
        assert metric(client, 'tutorbook_gateway_cache_lookups_total{result="semantic_hit"}') == 1


def test_a_gateway_with_a_judge_never_answers_from_an_answer_checked_without_one(redis_url: str) -> None:
    semantic: dict[str, Any] = {"cache__semantic_enabled": True, "cache__semantic_min_similarity": 0.9}
    plain = Gateway(redis_url, **semantic)
    judged = Gateway(redis_url, retriever=plain.retriever, claims__judge_model="judge", **semantic)
    question, similar_question = "How long is the warranty?", "how long is the WARRANTY"
    with plain.client() as unjudged_client, judged.client() as judged_client:
        assert ask(unjudged_client, question).headers["x-tutorbook-cache"] == "miss"
        eventually(  # remembered (in the background): a gateway without a judge now answers from it
            lambda: ask(unjudged_client, similar_question).headers["x-tutorbook-cache"] == "semantic-hit",
            what="the unjudged answer to be remembered",
        )
        similar = ask(judged_client, similar_question)  # every similar answer there was checked without a judge
        assert similar.headers["x-tutorbook-cache"] == "miss"
        assert similar.json()["tutorbook"]["answer_check"]["judge"]["model"] == "judge"
        exact = ask(judged_client, question)  # never the unjudged exact entry; its own judged answer may serve
        assert exact.headers["x-tutorbook-cache"] != "hit"
        assert exact.json()["tutorbook"]["answer_check"]["judge"]["model"] == "judge"
        eventually(
            lambda: ask(judged_client, question).headers["x-tutorbook-cache"] in {"hit", "semantic-hit"},
            what="the judged answer to be cached",
        )


def test_an_answer_whose_judge_failed_is_not_cached(redis_url: str) -> None:
    gateway = Gateway(redis_url, claims__judge_model="judge")

    async def failing(payload: dict[str, Any]) -> dict[str, Any]:
        raise UpstreamError("the judge is not served")

    gateway.generator.completion = failing  # type: ignore[method-assign]
    with gateway.client() as client:
        first = ask(client, "How long is the warranty?")
        assert "not served" in first.json()["tutorbook"]["answer_check"]["judge"]["error"]
        assert ask(client, "How long is the warranty?").headers["x-tutorbook-cache"] == "miss"


def test_the_semantic_cache_is_off_by_default(redis_url: str) -> None:
    gateway = Gateway(redis_url)
    with gateway.client() as client:
        ask(client, "How long is the warranty?")
        assert ask(client, "how long is the WARRANTY").headers["x-tutorbook-cache"] == "miss"
        assert gateway.retriever.answered == {}


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"n": 5}, "n"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        (
            {"messages": [{"role": "wizard", "content": "x"}, {"role": "user", "content": "Warranty?"}]},
            "messages[0].role",
        ),
    ],
)
def test_a_bad_request_is_refused_the_same_whether_or_not_its_answer_is_cached(
    redis_url: str, change: dict[str, Any], param: str
) -> None:
    gateway = Gateway(redis_url)
    with gateway.client() as client:
        body = {"model": "auto", "messages": [{"role": "user", "content": "Warranty?"}], "temperature": 0}
        refused_before = client.post("/v1/chat/completions", json={**body, **change}, headers=USER)
        assert client.post("/v1/chat/completions", json=body, headers=USER).headers["x-tutorbook-cache"] == "miss"
        assert client.post("/v1/chat/completions", json=body, headers=USER).headers["x-tutorbook-cache"] == "hit"
        refused_after = client.post("/v1/chat/completions", json={**body, **change}, headers=USER)
    assert refused_before.status_code == refused_after.status_code == 400
    assert refused_before.json()["error"]["param"] == refused_after.json()["error"]["param"] == param
    assert len(gateway.generator.payloads) == 1  # the refused requests reached nothing


@pytest.mark.parametrize(("scope", "other_key_sees"), [("key", "miss"), ("shared", "hit")])
def test_the_cache_is_per_key_unless_shared(redis_url: str, scope: str, other_key_sees: str) -> None:
    """By default a cache hit never tells one key what another asked; "shared" trades that for more hits."""
    with Gateway(redis_url, cache__scope=scope).client() as client:
        assert ask(client, "Warranty?").headers["x-tutorbook-cache"] == "miss"
        assert ask(client, "Warranty?").headers["x-tutorbook-cache"] == "hit"
        assert ask(client, "Warranty?", OTHER_USER).headers["x-tutorbook-cache"] == other_key_sees
