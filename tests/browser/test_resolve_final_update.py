"""Resolving an incident with published updates offers the final public update and
publishes it with the resolve: the public page says resolved, not "Identified — next
update in 15 minutes"."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

from incidents import actions
from incidents.models import Service, Status
from incidents.statuspage.actions import publish_update
from incidents.statuspage.models import CommsTemplate
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_resolve_with_the_final_update(browser, live_server, lead):
    base = live_server.url
    payments = Service.objects.create(name="payments-api", public=True, public_name="Payments")
    incident = actions.declare_incident(
        title="Stripe webhooks failing", severity="P0", declared_by=lead, services=[payments]
    )
    publish_update(
        incident, title="Card payments failing", status="identified",
        body="We found the cause and are fixing it.", components=[payments], by=lead,
    )  # fmt: skip
    CommsTemplate.objects.create(
        name="Resolved", body="[service] is working normally again since [end time]."
    )
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        log_in(page, base, lead.username, PASSWORD)
        page.goto(f"{base}/incidents/{incident.pk}/")
        final = page.locator("#final-update")
        expect(final).to_be_hidden()  # only while "Resolved" is chosen
        page.select_option("#controls select[name=status]", "resolved")
        expect(final).to_be_visible()
        expect(final.locator("input[name=final_title]")).to_have_value("Card payments failing")
        body = final.locator("textarea[name=final_body]")
        expect(body).to_have_value(
            re.compile(r"^Payments is working normally again since \d\d:\d\d")
        )
        body.fill(body.input_value() + " Sorry for the trouble.")
        page.locator("#controls").screenshot(path="/tmp/shots-14/resolve-final-update-1440.png")
        page.click("#controls button:has-text('Update status')")
        expect(page.locator("#incident-header")).to_contain_text("Resolved", timeout=6_000)
        expect(page.locator("#timeline-live")).to_contain_text("published a status update")
    finally:
        context.close()
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED

    for _ in range(12):
        data = httpx.get(f"{base}/status/incidents.json", timeout=10).json()
        (public,) = [i for i in data["incidents"] if i["id"] == str(incident.pk)]
        assert public["status"] == "resolved"
        assert public["incident_updates"][0]["status"] == "resolved"
        assert "Sorry for the trouble." in public["incident_updates"][0]["body"]
        summary = httpx.get(f"{base}/status.json", timeout=10).json()
        assert summary["status"]["indicator"] == "none"
