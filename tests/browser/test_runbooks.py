"""A lead uploads a runbook and reads it: branches fold, code copies, search finds a scenario."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from runbooks.importer import import_runbook
from runbooks.models import RunbookVersion
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD
from tests.runbooks.test_parser import SEED_FILES

pytestmark = pytest.mark.browser

RUNBOOK = """# Cache runbook

## Cache node down (P1)

**Symptoms:**
- Latency doubles; cache hit ratio drops to zero

**Diagnosis:**
1. Ping the node:
   ```sh
   redis-cli -h cache-1 ping   # expect "PONG" & nothing else
   ```

**Resolution:**

**If the node is out of memory**:
1. Flush the volatile keys: `redis-cli -h cache-1 --scan --pattern 'tmp:*'`

**If the node is gone**:
1. Fail over to the replica.
"""
COMMAND = 'redis-cli -h cache-1 ping   # expect "PONG" & nothing else\n'


def test_upload_read_copy_and_search(browser, live_server, lead, tmp_path, screenshot_dir):
    base = live_server.url
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # CSP violations (an inline style, a handler) are reported as console errors.
        page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
        log_in(page, base, lead.username, PASSWORD)

        # Upload from the library, land on the new runbook with the message.
        page.click("nav.topnav >> text=Runbooks")
        page.click("text=Upload runbook")
        path = tmp_path / "cache.md"
        path.write_text(RUNBOOK, encoding="utf-8")
        page.set_input_files("input[type=file]", str(path))
        page.click(".rb-upload button[type=submit]")
        page.wait_for_url(f"{base}/runbooks/cache/v/1/")
        expect(page.locator("#toasts")).to_contain_text("Cache runbook v1 imported")
        assert RunbookVersion.objects.get().imported_by == lead
        expect(page.locator("h1")).to_have_text("Cache runbook")
        expect(page.locator("#cache-node-down-p1 .rb-unit-head")).to_contain_text("P1")

        # Fold every branch, then open one again.
        branch = page.locator("details.rb-branch", has_text="the node is gone")
        step = branch.locator("text=Fail over to the replica.")
        expect(step).to_be_visible()
        page.click("text=Collapse all branches")
        expect(step).to_be_hidden()
        branch.locator("summary").click()
        expect(step).to_be_visible()
        expect(page.locator("details.rb-branch", has_text="out of memory")).not_to_have_attribute(
            "open", ""
        )

        # Copy the command: the button says so and the clipboard holds the exact text.
        copy = page.locator(".rb-code button[data-copy]").first
        copy.click()
        expect(copy).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == COMMAND
        expect(copy).to_have_text("Copy", timeout=3_000)

        # Search as you type in the library, then follow a result to its scenario.
        page.goto(f"{base}/runbooks/")
        page.fill("#rb-q", "fail over")
        result = page.locator("#search-results .rb-result-title")
        expect(result).to_contain_text("Cache node down")
        expect(page).to_have_url(re.compile(r"\?q=fail(\+|%20)over$"))
        result.click()
        page.wait_for_url(f"{base}/runbooks/cache/v/1/#cache-node-down-p1")
        expect(page.locator("#cache-node-down-p1")).to_be_in_viewport()

        # A real runbook, for the record and for a person to look at.
        if SEED_FILES:
            seed = next((p for p in SEED_FILES if p.name.startswith("001")), SEED_FILES[0])
            version = import_runbook(seed.read_bytes(), filename=seed.name).version
            page.goto(f"{base}{version.runbook.get_absolute_url()}")
            expect(page.locator(".rb-toc")).to_be_visible()
            page.screenshot(path=str(screenshot_dir / "runbook-page.png"), full_page=True)
        assert errors == []
    finally:
        context.close()
