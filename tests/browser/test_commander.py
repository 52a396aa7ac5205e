"""The header says who is in charge from the first second, and anyone takes command of an
incident that has none, without a reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from incidents.models import Incident
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_declarer_is_commander_in_the_header(browser, live_server, responder):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        log_in(page, live_server.url, responder.username, PASSWORD)
        page.goto(f"{live_server.url}/incidents/declare/")
        page.fill("input[name=title]", "Checkout returns 502 for EU customers")
        page.click("#declare-form button[type=submit]")
        page.wait_for_url(re.compile(r"/incidents/\d+/$"))
        header = page.locator("#incident-header")
        expect(header.locator(".ih-commander")).to_contain_text(responder.username)
        expect(header.locator(".ih-last-update")).to_contain_text("none yet")
        expect(header.locator(".ih-next-step")).to_contain_text("attach a runbook")
    finally:
        context.close()


def test_take_command_from_the_header(browser, live_server, responder, incident):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    try:
        page = context.new_page()
        log_in(page, live_server.url, responder.username, PASSWORD)
        page.goto(f"{live_server.url}/incidents/{incident.pk}/")
        header = page.locator("#incident-header")
        expect(header.locator(".ih-commander")).to_contain_text("nobody")
        header.get_by_role("button", name="Take command").tap()
        expect(header.locator(".ih-commander")).to_contain_text(responder.username, timeout=6_000)
        expect(header.get_by_role("button", name="Take command")).to_have_count(0)
        expect(page.locator("#timeline-live")).to_contain_text("took command")
        assert Incident.objects.get().role_assignments.get().user == responder
    finally:
        context.close()
