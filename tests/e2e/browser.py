"""Headless Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by Selenium, for the page's tests.

Selenium is given the driver's path, so it never tries to download one. Every test gets a fresh profile:
session storage, and with it the key, starts empty. Screenshots go to ``data/page-screenshots`` (or
``TUTORBOOK_SCREENSHOTS``).
"""

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import REPO_ROOT

T = TypeVar("T")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)
DESKTOP = (1280, 900)
PHONE = (390, 844)


def screenshot_dir() -> Path:
    folder = Path(os.environ.get("TUTORBOOK_SCREENSHOTS", REPO_ROOT / "data" / "page-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Set to 1 by `make test` (tutorbook_devstack.test_tiers), which installed Chromium and its driver
# (scripts/install.sh): there a missing browser fails the page's tests instead of skipping them. Not a
# TUTORBOOK_* name: the services refuse unknown ones, and they inherit the tests' environment.
REQUIRE_BROWSER_VARIABLE = "REQUIRE_BROWSER"


def browser_available() -> bool:
    return bool(shutil.which("chromium") and shutil.which("chromedriver"))


def browser_required() -> bool:
    return os.environ.get(REQUIRE_BROWSER_VARIABLE) == "1"


def needs_browser() -> pytest.MarkDecorator:
    """A browser test's mark: skipped at collection, before the stack starts, without the browser (`make e2e`
    on a machine without it), unless it is required (`make test`), when the tests' fixture fails instead."""
    return pytest.mark.skipif(
        not browser_available() and not browser_required(),
        reason="chromium and chromedriver are installed by make test",
    )


@contextmanager
def chromium(size: tuple[int, int] = DESKTOP) -> Iterator[webdriver.Chrome]:
    profile = tempfile.mkdtemp(prefix="tutorbook-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(shutil.which("chromium"))
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(shutil.which("chromedriver"))))
    try:
        if size[0] < DESKTOP[0] / 2:  # a phone: its viewport, touch and pixel ratio (a window has a minimum width)
            metrics = {"width": size[0], "height": size[1], "deviceScaleFactor": 2, "mobile": True}
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Page:
    """The page in one browser, with the few moves the tests make."""

    def __init__(self, driver: webdriver.Chrome, url: str) -> None:
        self.driver = driver
        self.url = url

    def open(self) -> "Page":
        self.driver.get(self.url + "/")
        return self

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait(self, condition: Callable[[webdriver.Chrome], T], seconds: float = 60) -> T:
        """Until ``condition`` holds; an element the page re-rendered while it was read is read again."""
        ignored = (StaleElementReferenceException,)
        return WebDriverWait(self.driver, seconds, poll_frequency=0.05, ignored_exceptions=ignored).until(condition)

    def visible(self, css: str, seconds: float = 60) -> WebElement:
        def shown(_: webdriver.Chrome) -> WebElement | None:
            return next((element for element in self.all(css) if element.is_displayed()), None)

        found = self.wait(shown, seconds)
        assert found is not None
        return found

    def click(self, css: str) -> None:
        """Click the element, found again if the page re-rendered it meanwhile (lists refresh when shown)."""

        def clicked(_: webdriver.Chrome) -> bool:
            try:
                self.find(css).click()
                return True
            except StaleElementReferenceException:
                return False

        self.wait(clicked, 10)

    def text_of(self, css: str) -> str:
        return self.find(css).text

    def sign_in(self, key: str) -> "Page":
        self.find("#key-input").send_keys(key)
        self.find("#key-form button[type=submit]").click()
        self.wait(lambda d: "Signed in" in self.text_of("#key-status"))
        self.wait(lambda d: len(self.all("#model-select option")) >= 2)
        return self

    def script(self, code: str, *args: Any) -> Any:
        return self.driver.execute_script(code, *args)

    def shot(self, name: str) -> Path:
        path = screenshot_dir() / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def console_errors(self) -> list[str]:
        logged = self.driver.get_log("browser")  # type: ignore[no-untyped-call]
        return [entry["message"] for entry in logged if entry["level"] == "SEVERE"]


def ask(page: Page, question: str, model: str = "auto", policy: str = "") -> None:
    """Ask ``question`` on the chat page (as ``model``, under the claims ``policy``) and wait for its answer."""
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
