from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    # Playwright's sync API keeps an event loop on the test thread; the ORM calls the tests
    # make between browser steps are still plain synchronous calls. Only while it runs.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def log_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/incidents/")


def watch_errors(page, errors: list[str]) -> None:
    """Collect the page's uncaught exceptions and console errors (CSP violations, an inline
    style or script, are reported as console errors) into `errors`."""
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))


# A refusal the console answers on purpose (a form error, a conflict, a rate limit) is logged
# by Chromium as a failed resource; the page shows its message. Anything else is a defect:
# a 404 or 5xx, a CSP violation, an uncaught exception.
DELIBERATE_REFUSAL = re.compile(
    r"Failed to load resource: the server responded with a status of (400|403|409|413|422|429)\b"
)


class ConsoleErrors:
    """Every page of every context a test opens reports here (see the autouse fixture)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[re.Pattern] = [DELIBERATE_REFUSAL]

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def watch(self, page) -> None:
        url = lambda: page.url  # noqa: E731 - the page's address when the error happens
        page.on("pageerror", lambda exc: self.errors.append(f"{url()}: {exc}"))
        page.on(
            "console",
            lambda msg: msg.type == "error" and self.errors.append(f"{url()}: {msg.text}"),
        )

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture(autouse=True)
def console_errors(request) -> Iterator[ConsoleErrors]:
    """Collect console errors on every page a browser test visits; fail the test on any."""
    collector = ConsoleErrors()
    if "browser" not in request.fixturenames:
        yield collector
        return
    browser = request.getfixturevalue("browser")
    original = browser.new_context

    def new_context(*args, **kwargs):
        context = original(*args, **kwargs)
        context.on("page", collector.watch)
        return context

    original_page = browser.new_page

    def new_page(*args, **kwargs):
        page = original_page(*args, **kwargs)
        collector.watch(page)
        return page

    browser.new_context = new_context
    browser.new_page = new_page
    try:
        yield collector
    finally:
        del browser.new_context
        del browser.new_page
    assert collector.unexpected() == [], "console errors:\n" + "\n".join(collector.unexpected())
