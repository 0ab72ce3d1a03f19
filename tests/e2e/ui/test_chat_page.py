"""The chat page and the advisor in a real browser (headless Chromium) against the running stack: streamed
answers with citations, feedback, sessions, a hostile document, labels and keyboard, the phone layout.
Screenshots land in data/page-screenshots."""

import shutil

import httpx

from tests.conftest import REPO_ROOT
from tests.e2e.browser import PHONE, Page, ask, chromium, last_answer, needs_browser
from tests.e2e.conftest import ADMIN_KEY, API_KEY
from tutorbook_devstack.stack import Stack
from tutorbook_grounding.policy import UNSUPPORTED_MARK, ClaimsPolicy, apply_policy, flagged
from tutorbook_grounding.support import Claim

pytestmark = needs_browser()
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
WARRANTY_QUESTION = "How long is the warranty on Brightleaf products?"


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
