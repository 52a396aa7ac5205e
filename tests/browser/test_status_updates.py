"""The communicator picks a template, edits it (the page keeps polling), publishes; an
anonymous visitor's status page shows the update."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from incidents import actions
from incidents.models import Service
from incidents.statuspage.models import CommsTemplate, StatusUpdate
from tests.browser.conftest import log_in, watch_errors
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_communicator_publishes_and_the_public_page_shows_it(
    browser, live_server, responder, lead, screenshot_dir
):
    base = live_server.url
    payments = Service.objects.create(
        name="payments-api", public=True, public_name="Payments", position=1
    )
    Service.objects.create(name="search", public=True, public_name="Search", position=2)
    incident = actions.declare_incident(
        title="Stripe webhooks failing",
        severity="P1",
        declared_by=lead,
        services=[payments],
        customer_impact="Some card payments fail at checkout",
    )
    actions.assign_role(incident, role="communicator", user=responder, by=lead)
    actions.add_note(incident, text="internal: signing secret rotated at 02:00", by=lead)
    CommsTemplate.objects.create(
        name="Investigating",
        severity="P1",
        body=(
            "We are investigating an issue affecting [service].\n"
            "Impact: [impact]\nCause: [root cause]\nNext update by [next update]."
        ),
    )

    console = browser.new_context(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    try:
        page = console.new_page()
        watch_errors(page, errors)
        log_in(page, base, responder.username, PASSWORD)
        page.goto(f"{base}/incidents/{incident.pk}/")
        page.evaluate("window.__noReload = 'still here'")
        expect(page.locator("#su-live")).to_contain_text("Next update due at")

        page.click("#su-editor > summary")
        page.select_option("#su-template", label="Investigating · P1")
        page.click("#su-pick button[type=submit]")
        body = page.locator("#su-body")
        expect(body).to_have_value(
            re.compile(
                r"^We are investigating an issue affecting Payments\.\n"
                r"Impact: Some card payments fail at checkout\nCause: \[root cause\]\n"
                r"Next update by \d\d:\d\d UTC\.$"
            )
        )
        expect(page.locator(".su-left")).to_contain_text("[root cause]")

        # The communicator edits; meanwhile someone else's change makes the page poll and
        # swap its live parts. What was typed stays.
        edited = body.input_value().replace("[root cause]", "a failing card processor")
        body.fill(edited)
        page.fill("#su-form input[name=title]", "Card payments failing")
        actions.add_note(incident, text="internal: retrying the webhook queue", by=lead)
        expect(page.locator("#timeline-live")).to_contain_text(
            "retrying the webhook queue", timeout=6_000
        )
        expect(body).to_have_value(edited)

        page.locator("#su-form .su-component", has_text="Payments").locator("input").check()
        page.click("#su-form button[type=submit]")
        expect(page.locator("#su-editor .su-done")).to_contain_text("Published")
        expect(page.locator("#su-live")).to_contain_text("a failing card processor")
        expect(page.locator("#su-body")).to_have_value("")
        update = StatusUpdate.objects.get()
        assert update.published_by == responder and update.title == "Card payments failing"
        assert page.evaluate("window.__noReload") == "still here"
        page.locator("#status-updates").screenshot(
            path=str(screenshot_dir / "status-update-panel.png")
        )
        page.screenshot(path=str(screenshot_dir / "status-incident-page.png"), full_page=True)
    finally:
        console.close()

    visitor = browser.new_context(viewport={"width": 1100, "height": 900})
    try:
        public = visitor.new_page()
        watch_errors(public, errors)
        response = public.goto(f"{base}/status/")
        assert response.status == 200 and "/login/" not in public.url
        expect(public.locator(".sp-indicator")).to_contain_text("Partial System Outage")
        expect(public.locator(".sp-incident")).to_contain_text("Card payments failing")
        expect(public.locator(".sp-incident")).to_contain_text("a failing card processor")
        expect(public.locator(".sp-component", has_text="Payments")).to_contain_text(
            "Partial Outage"
        )
        expect(public.locator(".sp-component", has_text="Search")).to_contain_text("Operational")
        content = public.content()
        assert "internal:" not in content and responder.username not in content
        public.screenshot(path=str(screenshot_dir / "status-page.png"), full_page=True)
    finally:
        visitor.close()
    assert errors == []


def test_lead_writes_a_comms_template(browser, live_server, lead, screenshot_dir):
    base = live_server.url
    CommsTemplate.objects.create(
        name="Resolved", body="The issue affecting [service] is resolved since [end]."
    )
    context = browser.new_context(viewport={"width": 1300, "height": 800})
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: (
                msg.type == "error" and "status of 422" not in msg.text and errors.append(msg.text)
            ),
        )
        log_in(page, base, lead.username, PASSWORD)
        page.click("nav >> text=Comms")
        page.click("text=New template")
        page.fill("input[name=name]", "Investigating (P0)")
        page.select_option("select[name=severity]", "P0")
        page.fill(
            "textarea[name=body]",
            "We are investigating a full outage of [service] since [time].\n"
            "Impact: [impact]\nNext update: [next update].",
        )
        page.click("button[type=submit] >> text=Save template")
        expect(page.locator(".ct-table")).to_contain_text("Investigating (P0)")
        expect(page.locator(".ct-table")).to_contain_text("written here")
        page.screenshot(path=str(screenshot_dir / "comms-templates.png"), full_page=True)
    finally:
        context.close()
    assert errors == []
    assert CommsTemplate.objects.get(name="Investigating (P0)").severity == "P0"
