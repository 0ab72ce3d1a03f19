"""The console in a real browser (headless Chromium) against the running stack: adapters uploaded, refused,
rolled back and rolled out; keys and teams made and revoked; no console for a user's key."""

import secrets
from pathlib import Path

import httpx

from tests.e2e.browser import Page, ask, needs_browser
from tests.e2e.conftest import ADMIN_KEY, API_KEY

pytestmark = needs_browser()
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
TRIAGE = "article[data-adapter=e2e-triage]"  # the uploaded adapter's entry in the console


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
