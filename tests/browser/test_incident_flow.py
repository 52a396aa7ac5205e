"""A responder declares (and commands) and notes; a lead in another browser takes command; the
responder's page shows it without a reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from incidents.models import Incident, TimelineEvent
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_declare_note_and_live_role_assignment(
    browser, live_server, responder, lead, screenshot_dir
):
    base = live_server.url
    rita = browser.new_context(viewport={"width": 1400, "height": 900})
    leo = browser.new_context(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    try:
        page = rita.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # The deliberate 422 below is logged by Chromium as a failed resource; nothing else may be.
        page.on(
            "console",
            lambda msg: (
                msg.type == "error" and "status of 422" not in msg.text and errors.append(msg.text)
            ),
        )
        log_in(page, base, responder.username, PASSWORD)

        # Declare a P1; a too-short title first shows an inline error and keeps the input.
        page.click("text=Declare incident")
        page.fill("input[name=title]", "db")
        page.check("input[name=severity][value=P1]")
        page.fill("textarea[name=summary]", "Checkout 502s since 02:10")
        page.click("form#declare-form button[type=submit]")
        expect(page.locator(".field-error")).to_contain_text("at least 5 characters")
        expect(page.locator("textarea[name=summary]")).to_have_value("Checkout 502s since 02:10")
        page.fill("input[name=title]", "Checkout returns 502 for EU customers")
        page.click("form#declare-form button[type=submit]")
        page.wait_for_url(re.compile(r"/incidents/\d+/$"))
        incident = Incident.objects.get()
        assert incident.severity == "P1" and incident.declared_by == responder
        expect(page.locator("#incident-header")).to_contain_text("P1")
        expect(page.locator("#timeline-live")).to_contain_text("declared the incident")

        # Mark the document: a reload would lose this.
        page.evaluate("window.__noReload = 'still here'")

        # A note appears without a reload, and the box empties.
        page.fill("#note-text", "Stripe webhooks answer 400; checking the signing secret")
        page.click("#note-form button[type=submit]")
        expect(page.locator("#timeline-live")).to_contain_text("checking the signing secret")
        expect(page.locator("#note-text")).to_have_value("")
        assert TimelineEvent.objects.filter(kind="note_added", incident=incident).count() == 1

        # The declarer commands; a lead, in a second browser, takes over as commander.
        lead_page = leo.new_page()
        log_in(lead_page, base, lead.username, PASSWORD)
        lead_page.goto(f"{base}/incidents/{incident.pk}/")
        commander = lead_page.locator(".role[data-role=commander]")
        commander.locator("select[name=user]").select_option(label=lead.username)
        commander.locator("button[type=submit]").click()
        expect(commander).to_contain_text(lead.username)

        # Within 5 s the responder's page shows it on the timeline and in the roles panel.
        expect(page.locator("#timeline-live")).to_contain_text(
            f"handed Incident Commander from {responder.username} to {lead.username}",
            timeout=5_500,
        )
        expect(page.locator(".role[data-role=commander] .role-holder")).to_contain_text(
            lead.username
        )
        assert page.evaluate("window.__noReload") == "still here"
        page.screenshot(path=str(screenshot_dir / "incident-page.png"), full_page=True)
        assert errors == []
    finally:
        rita.close()
        leo.close()


def test_note_typed_is_kept_when_the_server_refuses_it(browser, live_server, responder, incident):
    context = browser.new_context()
    try:
        page = context.new_page()
        log_in(page, live_server.url, responder.username, PASSWORD)
        page.goto(f"{live_server.url}/incidents/{incident.pk}/")
        # Typed but not sent: a reload brings the draft back.
        page.fill("#note-text", "half-written finding about pgbouncer")
        page.reload()
        expect(page.locator("#note-text")).to_have_value("half-written finding about pgbouncer")
        # Only whitespace: the server answers 422 and the form says why.
        page.fill("#note-text", "   ")
        page.click("#note-form button[type=submit]")
        expect(page.locator("#note-form .field-error")).to_contain_text("Write something")
    finally:
        context.close()
