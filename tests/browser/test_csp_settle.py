"""htmx's settle step must not copy inline `style` attributes (a textarea the user resized
carries one): the Content-Security-Policy refuses them, one console error per swap. The
console_errors fixture (conftest) fails the test on any console error."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_swapping_a_resized_textarea_raises_no_csp_error(
    browser, live_server, responder, incident, console_errors
):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        log_in(page, live_server.url, responder.username, PASSWORD)
        page.goto(f"{live_server.url}/incidents/{incident.pk}/")
        # What dragging the resize handle does: an inline height, set through the CSSOM.
        page.evaluate("document.getElementById('note-text').style.height = '180px'")
        for _ in range(3):
            page.fill("#note-text", "   ")
            page.click("#note-form button[type=submit]")
            expect(page.locator("#note-form .field-error")).to_contain_text("Write something")
        page.wait_for_timeout(300)  # let settle run
        assert [e for e in console_errors.errors if "style" in e] == []
    finally:
        context.close()
