"""The page in a real browser (headless Chromium) against the running stack: chat, the advisor, the adapter
console, keys, a hostile document, the phone layout. Screenshots land in data/page-screenshots."""

import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.browser import (
    PHONE,
    REQUIRE_BROWSER_VARIABLE,
    Page,
    browser_available,
    browser_required,
    chromium,
)
from tests.e2e.conftest import ADMIN_KEY, API_KEY
from tutorbook_devstack.stack import Stack
from tutorbook_grounding.policy import UNSUPPORTED_MARK, ClaimsPolicy, apply_policy, flagged
from tutorbook_grounding.support import Claim

# Skipped without the browser (`make e2e` on a machine without it), unless it is required (`make test`).
pytestmark = pytest.mark.skipif(
    not browser_available() and not browser_required(), reason="chromium and chromedriver are installed by make test"
)
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
TRIAGE = "article[data-adapter=e2e-triage]"  # the uploaded adapter's entry in the console
WARRANTY_QUESTION = "How long is the warranty on Brightleaf products?"


@pytest.fixture(autouse=True)
def browser_installed() -> None:
    """Where the browser is required (``REQUIRE_BROWSER=1``: ``make test`` installed it), its absence is a
    failure of every test here, never a skip."""
    if not browser_available():
        pytest.fail(
            f"chromium or chromedriver is missing, and {REQUIRE_BROWSER_VARIABLE}=1 says make test installed them"
        )


@pytest.fixture
def page(gateway_url: str) -> Iterator[Page]:
    with chromium() as driver:
        yield Page(driver, gateway_url).open()


def ask(page: Page, question: str, model: str = "auto", policy: str = "") -> None:
    page.find(f"#model-select option[value='{model}']").click()
    page.find(f"#policy-select option[value='{policy}']").click()
    asked = len(page.all("div.message.assistant"))
    page.find("#question").send_keys(question)
    page.find("#ask-button").click()
    page.wait(
        lambda _: (
            len(page.all("div.message.assistant")) > asked and not page.find("#ask-button").get_property("disabled")
        ),
        180,
    )


def last_answer(page: Page) -> str:
    return page.all("div.message.assistant")[-1].find_element("css selector", ".answer").text


def test_a_question_streams_in_with_its_route_citations_and_highlighted_quote(
    page: Page, sample_knowledge_base: tuple[int, int]
) -> None:
    page.sign_in(API_KEY)
    ask(page, WARRANTY_QUESTION, policy="flag")
    assert "Answer complete" in page.text_of("#chat-status")
    badge = page.find("div.message.assistant .badge")
    assert badge.get_attribute("data-route") == "rag" and "RAG" in badge.text and "confidence" in badge.text
    assert "threshold" in badge.text  # the router's reason
    assert last_answer(page)
    page.shot("chat-answer")
    assert page.all("div.message.assistant .answer a.cite"), f"the answer cites a passage: {last_answer(page)!r}"
    quoted = [item for item in page.all("div.message.assistant .citations li") if "quoted" in item.text]
    assert quoted, "a passage supports the answer"
    quoted[0].find_element("css selector", "a.cite").click()
    dialog = page.visible("#passage-dialog")
    assert "Warranty" in dialog.text
    page.shot("chat-passage")
    marks = page.all("#passage-text mark")
    assert marks and marks[0].text in page.text_of("#passage-text")  # the quoted span, in place
    page.find("#passage-dialog button").click()
    assert not page.find("#passage-dialog").is_displayed()
    assert page.console_errors() == []  # nothing blocked by the Content-Security-Policy, no script error


def test_the_answer_is_shown_while_it_streams(page: Page) -> None:
    page.sign_in(API_KEY)
    base = next(str(o.get_attribute("value")) for o in page.all("#model-select option") if "base model" in o.text)
    page.script("""
        window.seen = [];
        new MutationObserver(() => {
          const busy = document.querySelector(".answer[aria-busy=true]");
          if (busy) window.seen.push(busy.textContent.length);
        }).observe(document.getElementById("messages"), {subtree: true, childList: true, characterData: true});""")
    ask(page, "Write three sentences about why people drink tea.", model=base)
    seen = [length for length in page.script("return window.seen") if length]
    assert len(set(seen)) >= 3, f"the answer came in {len(set(seen))} pieces: {seen}"
    assert page.find("div.message.assistant .badge").get_attribute("data-route") == "prompt"


def test_feedback_from_the_page_is_recorded(
    page: Page, gateway_url: str, sample_knowledge_base: tuple[int, int]
) -> None:
    page.sign_in(API_KEY)
    ask(page, WARRANTY_QUESTION)
    card = page.all("div.message.assistant")[-1]
    response_id = card.get_attribute("data-response-id")
    card.find_element("xpath", ".//button[text()='Helpful']").click()
    page.wait(lambda _: "Thanks" in card.find_element("css selector", ".feedback-status").text)
    assert card.find_element("xpath", ".//button[text()='Helpful']").get_attribute("aria-pressed") == "true"
    recorded = httpx.get(f"{gateway_url}/v1/feedback", headers=ADMIN, timeout=30).json()["data"]
    assert any(r["response_id"] == response_id and r["rating"] == "up" and r["route"] == "rag" for r in recorded)


def test_a_conversation_keeps_its_session_until_a_new_one(page: Page, sample_knowledge_base: tuple[int, int]) -> None:
    page.sign_in(API_KEY)

    def session() -> str | None:
        return page.script("return sessionStorage.getItem('tutorbook.session')")  # type: ignore[no-any-return]

    ask(page, WARRANTY_QUESTION)
    first = session()
    assert first and first.startswith("page-")
    page.driver.refresh()  # the key and the conversation survive a reload of the tab
    page.wait(lambda _: "Signed in" in page.text_of("#key-status") and len(page.all("#model-select option")) >= 2)
    assert session() == first
    ask(page, "What is the capital of Mongolia?")  # nothing fits: "not sure", with topics to ask about
    assert page.all("div.message.assistant .badge")[-1].get_attribute("data-route") == "abstain"
    topics = page.all("div.message.assistant button.suggestion")
    assert topics, "a not-sure answer offers the closest topics"
    topic = topics[0].text
    topics[0].click()
    page.wait(lambda _: f"About {topic}:" in page.all("div.message.user")[-1].text)
    page.wait(lambda _: not page.find("#ask-button").get_property("disabled"), 180)
    page.find("#new-conversation").click()
    assert page.all("li.message") == [] and session() is None


def test_a_script_in_a_document_renders_as_text(page: Page, gateway_url: str) -> None:
    hostile = "Zephyr kettle <script>window.pwned = 1</script> <img src=x onerror='window.pwned = 2'>"
    text = f"# {hostile}\n\nThe Zephyr kettle boils one litre in 90 seconds. {hostile} descale it monthly."
    document = {"id": "zephyr-kettle", "title": hostile, "text": text}
    assert (
        httpx.post(
            f"{gateway_url}/v1/documents", json={"documents": [document]}, headers=ADMIN, timeout=120
        ).status_code
        == 200
    )
    try:
        page.sign_in(API_KEY)
        ask(page, "How fast does the Zephyr kettle boil one litre?", policy="flag")
        links = page.all("div.message.assistant .citations a.cite")
        assert links and any("<script>" in link.text for link in links)  # the title, as text
        next(link for link in links if "<script>" in link.text).click()
        page.visible("#passage-dialog")
        assert "<script>window.pwned = 1</script>" in page.text_of("#passage-text")
        assert page.script("return window.pwned") is None
        assert len(page.all("script")) == 1 and page.all("#passage-dialog img, #messages img") == []
        page.shot("hostile-document")
    finally:
        httpx.delete(f"{gateway_url}/v1/documents/zephyr-kettle", headers=ADMIN, timeout=60)


def test_the_advisor_recommends_with_the_measured_comparison(page: Page, stack: Stack) -> None:
    comparisons = stack.config.data_dir / "comparisons" / "page-example"
    shutil.copytree(REPO_ROOT / "docs" / "examples" / "compare-support-triage", comparisons, dirs_exist_ok=True)
    try:
        advise_with_the_comparison(page)
    finally:
        shutil.rmtree(comparisons)


def advise_with_the_comparison(page: Page) -> None:
    page.sign_in(API_KEY)
    page.find("#tabs button[data-panel=advisor-panel]").click()
    page.visible("#advisor-form fieldset")
    page.find("input[name=task][value=classification]").click()
    for fieldset in page.all("#advisor-form fieldset"):
        if not any(choice.is_selected() for choice in fieldset.find_elements("css selector", "input")):
            fieldset.find_elements("css selector", "input")[0].click()
    page.find("#advisor-dataset option[value=page-example]").click()
    page.find("#advisor-form button[type=submit]").click()
    heading = page.visible("#advisor-result .recommendation")
    assert heading.text.startswith("Recommended:")
    assert page.all("#advisor-result .reasons li")
    page.wait(lambda _: page.all("#advisor-result .measured meter"))
    page.wait(
        lambda _: (
            page.all(".plots img")
            and all(page.script("return arguments[0].naturalWidth", img) > 0 for img in page.all(".plots img"))
        )
    )
    page.shot("advisor")


def test_the_console_uploads_lists_refuses_and_deletes_adapters(
    page: Page, gateway_url: str, trained_adapter: bytes, tmp_path: Path
) -> None:
    archive, bad = tmp_path / "triage.tar.gz", tmp_path / "notes.tar.gz"
    archive.write_bytes(trained_adapter)
    bad.write_text("these are my notes, not an adapter")
    try:
        page.sign_in(ADMIN_KEY)
        page.find("#console-tab").click()
        page.find("#upload-file").send_keys(str(bad))
        page.find("#upload-form button[type=submit]").click()
        page.wait(lambda _: "Refused" in page.text_of("#console-status"))
        assert "must be a .tar.gz or a .zip of the adapter folder" in page.text_of("#console-status")  # plain words
        page.find("#upload-file").send_keys(str(archive))
        page.find("#upload-form button[type=submit]").click()
        page.wait(lambda _: "Uploaded" in page.text_of("#console-status"), 180)
        assert page.find("#upload-progress").get_property("value") == 100
        listed = page.visible("#adapter-e2e-triage")
        assert listed.text == "e2e-triage"
        assert page.text_of(f"{TRIAGE} .replicas").endswith(": loaded")  # activation loads it before answering
        page.shot("console")
        page.find("#tabs button[data-panel=chat-panel]").click()  # the new adapter is in the model picker
        page.wait(lambda _: page.all("#model-select option[value=e2e-triage]"))
        ask(page, "I was charged twice for my order.", model="e2e-triage")
        figure = page.visible("div.message.assistant figure.classification")
        assert "confidence" in figure.text and figure.find_elements("css selector", "meter")
        assert page.find("div.message.assistant .badge").get_attribute("data-route") == "adapter"
        page.find("#console-tab").click()
        page.click(f"{TRIAGE} button[data-action=delete-all]")
        page.visible("#confirm-dialog")
        page.find("#confirm-dialog button[value=confirm]").click()
        page.wait(lambda _: "Deleted" in page.text_of("#console-status") and not page.all(TRIAGE))
    finally:
        httpx.delete(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60)


def test_the_console_rolls_back_after_a_confirmation(page: Page, gateway_url: str, trained_adapter: bytes) -> None:
    def upload() -> int:
        files = {"file": ("a.tar.gz", trained_adapter)}
        return int(httpx.post(f"{gateway_url}/v1/adapters", files=files, headers=ADMIN, timeout=120).json()["version"])

    try:
        first, second = upload(), upload()
        page.sign_in(ADMIN_KEY)
        page.find("#console-tab").click()
        activate = f"{TRIAGE} button[data-action=activate][data-version='{first}']"
        page.click(activate)
        page.find("#confirm-dialog button[value=cancel]").click()  # nothing changes without the confirmation
        assert f"v{second} (active)" in page.text_of("#adapter-list")
        page.click(activate)
        page.find("#confirm-dialog button[value=confirm]").click()
        page.wait(lambda _: f"e2e-triage v{first} is active" in page.text_of("#console-status"), 120)
        page.wait(lambda _: f"v{first} (active)" in page.text_of("#adapter-list"))
        active = httpx.get(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=30).json()["active_version"]
        assert active == first
    finally:
        httpx.delete(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60)


def test_the_console_starts_pauses_and_aborts_a_rollout(page: Page, gateway_url: str, trained_adapter: bytes) -> None:
    def upload(query: str = "") -> int:
        files = {"file": ("a.tar.gz", trained_adapter)}
        response = httpx.post(f"{gateway_url}/v1/adapters{query}", files=files, headers=ADMIN, timeout=120)
        return int(response.json()["version"])

    try:
        active, candidate = upload(), upload("?activate=false")
        page.sign_in(ADMIN_KEY)
        page.find("#console-tab").click()
        page.click(f"{TRIAGE} button[data-action=rollout-start][data-version='{candidate}']")
        page.wait(lambda _: f"e2e-triage v{candidate} is rolling out" in page.text_of("#console-status"), 120)
        section = f"{TRIAGE} section.rollout"
        page.wait(lambda _: f"v{active} to v{candidate}" in page.text_of(section))
        assert "canary 10% of conversations" in page.text_of(section)  # the form's default share
        assert f"v{candidate} (candidate)" in page.text_of(f"{section} table.evidence")
        assert "Now: wait" in page.text_of(section)  # no evidence yet: the rollout waits, and says for what
        page.click(f"{section} button[data-action=rollout-pause]")
        page.wait(lambda _: "is paused" in page.text_of("#console-status"))
        page.click(f"{TRIAGE} section.rollout button[data-action=rollout-abort]")
        page.find("#confirm-dialog button[value=confirm]").click()
        page.wait(lambda _: "is aborted" in page.text_of("#console-status"))
        shown = httpx.get(f"{gateway_url}/v1/adapters/e2e-triage/rollout", headers=ADMIN, timeout=30).json()
        assert shown["rollout"]["state"] == "aborted" and shown["rollout"]["decision"]["by"] != "auto"
        listed = httpx.get(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=30).json()
        assert listed["active_version"] == active  # an abort leaves the active version as it was
    finally:
        httpx.delete(f"{gateway_url}/v1/adapters/e2e-triage", headers=ADMIN, timeout=60)


def test_keys_stay_in_the_tab_and_users_see_no_console(page: Page) -> None:
    page.find("#key-input").send_keys("not-a-key")
    page.find("#key-form button[type=submit]").click()
    page.wait(lambda _: "refused" in page.text_of("#key-status"))
    page.sign_in(API_KEY)
    assert not page.find("#console-tab").is_displayed() and not page.find("#keys-tab").is_displayed()
    assert API_KEY not in page.driver.current_url
    assert page.script("return sessionStorage.getItem('tutorbook.key')") == API_KEY
    assert page.script("return localStorage.length + document.cookie.length") == 0
    page.find("#key-forget").click()
    assert page.script("return sessionStorage.getItem('tutorbook.key')") is None
    assert not page.find("#chat-panel").is_displayed()


def test_the_keys_console_makes_a_team_and_a_key_shown_once_and_revokes_it(page: Page, gateway_url: str) -> None:
    team = f"page-{secrets.token_hex(3)}"
    page.sign_in(ADMIN_KEY)
    page.find("#keys-tab").click()
    page.find("#new-team-name").send_keys(team)
    page.find("#new-team-form button[type=submit]").click()
    page.wait(lambda _: f"Team {team} made" in page.text_of("#keys-status"))
    page.wait(lambda _: page.all(f"#new-key-team option[value={team}]"))
    page.find("#new-key-name").send_keys("helpdesk")
    page.find(f"#new-key-team option[value={team}]").click()
    page.find("#new-key-form button[type=submit]").click()
    secret = page.visible("#new-key-secret .secret-once").text
    holder = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{gateway_url}/v1/me", headers=holder, timeout=10).json()["team"] == team
    prefix = secret[:14]
    row = page.visible(f"#key-list tr[data-key={prefix}]")
    assert team in row.text and "active" in row.text and secret not in page.text_of("#key-list")
    page.shot("keys-console")
    page.click(f"#key-list tr[data-key={prefix}] button[data-action=revoke]")
    page.visible("#confirm-dialog button[value=confirm]").click()  # the dialog opens after the click
    page.wait(lambda _: f"Revoked {prefix}" in page.text_of("#keys-status"))
    page.wait(lambda _: "revoked" in page.text_of(f"#key-list tr[data-key={prefix}]"))
    assert (
        httpx.get(f"{gateway_url}/v1/me", headers={"Authorization": f"Bearer {secret}"}, timeout=10).status_code == 401
    )
    page.find("#key-forget").click()
    assert not page.all("#key-list tr") and not page.text_of("#new-key-secret")  # nothing stays for the next key


def test_every_control_is_labelled_and_reachable_by_keyboard(page: Page) -> None:
    page.sign_in(ADMIN_KEY)
    assert page.script("return document.activeElement.id") == "question"  # signed in: ready to ask
    page.find("#tabs button[data-panel=advisor-panel]").click()
    page.visible("#advisor-form fieldset input")  # the questionnaire's controls are there too
    unlabelled = page.script("""
        return [...document.querySelectorAll('input, select, textarea, meter, progress')]
          .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
          .map(e => e.id || e.outerHTML)""")
    assert unlabelled == []
    page.find("#tabs button[data-panel=chat-panel]").click()
    page.find("#question").click()
    page.find("#question").send_keys(WARRANTY_QUESTION[:3])
    order = [page.script("return document.activeElement.id || document.activeElement.textContent")]
    for _ in range(2):
        page.driver.switch_to.active_element.send_keys("\t")
        order.append(page.script("return document.activeElement.id || document.activeElement.textContent"))
    assert order[:2] == ["question", "ask-button"]  # the Ask button follows the question


def test_the_page_fits_a_phone(gateway_url: str, sample_knowledge_base: tuple[int, int]) -> None:
    with chromium(PHONE) as driver:
        page = Page(driver, gateway_url).open().sign_in(API_KEY)
        ask(page, WARRANTY_QUESTION)
        assert page.script("return window.innerWidth") == PHONE[0]
        assert page.script("return document.documentElement.scrollWidth <= window.innerWidth")
        ask_form = page.find("#ask-form").rect
        assert ask_form["width"] <= PHONE[0] and page.find("#question").rect["width"] > PHONE[0] * 0.7
        page.shot("phone")


# Answers with their claims, as the gateway's check returns them: the page must show what the flag policy
# writes (tutorbook_grounding.policy.apply_policy), whether the answer came whole or streamed.
FLAG_CASES: list[tuple[str, list[tuple[str, bool, int | None]]]] = [
    ("It works [1]. It flies [2].", [("It works [1].", True, 0), ("It flies [2].", False, None)]),
    ("Two years [3].", [("Two years [3].", True, 0)]),
    ("Two years. Ask us [1].", [("Two years.", True, 1), ("Ask us [1].", True, 0)]),
    ("Steps:\n1. Press OK [1].\n2. Wait [1].", [("1. Press OK [1].", True, 0), ("2. Wait [1].", True, 0)]),
    ("It is [3-1].", [("It is [3-1].", True, 2)]),  # a backwards range cites nothing
    ("It is [1-40]. Really [ 1 ]!", [("It is [1-40].", True, 29), ("Really [ 1 ]!", False, None)]),
    ("Is it? Yes [12].", [("Is it?", False, None), ("Yes [12].", True, 11)]),
]


def flag_claims(claims: list[tuple[str, bool, int | None]]) -> list[dict[str, object]]:
    return [{"text": text, "supported": ok, "citation": cited, "quote": None} for text, ok, cited in claims]


def test_the_page_code_in_the_browser(page: Page) -> None:
    """The pure functions of text.js, run by the browser itself."""
    cases = [[answer, flag_claims(claims)] for answer, claims in FLAG_CASES]
    results = page.driver.execute_async_script(
        """
        const [cases, done] = arguments;
        import("/ui/js/text.js").then((t) => {
          const reader = new t.EventStreamReader();
          const events = [...reader.feed('data: {"a"'), ...reader.feed(': 1}\\n\\ndata: [DONE]\\n\\n')];
          done({
            events,
            quoted: t.quotedSegments("One.  Two  is here. Three.", ["Two is here."]),
            numbers: t.citationNumbers("[1-3]").concat(t.citationNumbers("[2, 5]"), t.citationNumbers("[3-1]")),
            flagged: cases.map(([answer, claims]) => t.answerPieces(answer, claims, "flag")),
            withheld: t.answerPieces("Two years [1].", [{text: null, supported: false}], "withhold"),
            mark: t.UNSUPPORTED_MARK,
          });
        });""",
        cases,
    )
    assert results["events"] == ['{"a": 1}', "[DONE]"]
    assert results["quoted"] == [
        {"text": "One.  ", "quoted": False},
        {"text": "Two  is here.", "quoted": True},
        {"text": " Three.", "quoted": False},
    ]
    assert results["numbers"] == [1, 2, 3, 2, 5]
    for (answer, claims), pieces in zip(FLAG_CASES, results["flagged"], strict=True):
        written = apply_policy(answer, [Claim.from_dict(c) for c in flag_claims(claims)], [], ClaimsPolicy.FLAG)
        assert "".join(piece["text"] for piece in pieces) == written  # what the gateway writes, to the letter
        shown_as_unsupported = [piece["text"] for piece in pieces if piece["unsupported"]]
        assert shown_as_unsupported == [flagged(text) for text, ok, _ in claims if not ok]
        assert not any(piece.get("cite") for piece in pieces if piece["unsupported"])  # never looks sourced
    assert [piece.get("cite") for piece in results["withheld"] if piece.get("cite")] == [[1]]
    assert results["mark"] == UNSUPPORTED_MARK
