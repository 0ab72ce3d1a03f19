"""The browser tests' fixtures: headless Chromium on the running stack's page, skipped without the browser
(`make e2e` on a machine without it) unless make test installed it and requires it."""

from collections.abc import Iterator

import pytest

from tests.e2e.browser import REQUIRE_BROWSER_VARIABLE, Page, browser_available, browser_required, chromium


@pytest.fixture(autouse=True)
def browser_installed() -> None:
    """Where the browser is required (``REQUIRE_BROWSER=1``: ``make test`` installed it), its absence is a
    failure of every test here, never a skip."""
    if browser_available():
        return
    if not browser_required():
        pytest.skip("chromium and chromedriver are installed by make test")
    pytest.fail(f"chromium or chromedriver is missing, and {REQUIRE_BROWSER_VARIABLE}=1 says make test installed them")


@pytest.fixture
def page(gateway_url: str) -> Iterator[Page]:
    with chromium() as driver:
        yield Page(driver, gateway_url).open()
