"""The browser tests' fixtures: headless Chromium on the running stack's page. Each test module is marked
``needs_browser()``, which skips it without the browser unless make test requires it."""

from collections.abc import Iterator

import pytest

from tests.e2e.browser import REQUIRE_BROWSER_VARIABLE, Page, browser_available, chromium


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
