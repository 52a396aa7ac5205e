"""A lead opens an unacknowledged P0: the escalation panel shows level 1 paged (email
delivered, Slack skipped because it is not configured) and the levels to come; the lead
acknowledges from the incident page and the panel shows the ladder stopped. Then the
escalation pages a lead uses: policies, a policy's form, on call, a rotation, the profile."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from playwright.sync_api import expect

from incidents import actions
from incidents.escalation.models import (
    NotificationDelivery,
    OnCallRotation,
    RotationMember,
    RotationOverride,
)
from incidents.escalation.tasks import deliver_notification, sweep_escalations
from incidents.models import Service
from tests.browser.conftest import log_in, watch_errors
from tests.conftest import PASSWORD
from tests.incidents.escalation_helpers import staff_the_ladder

pytestmark = pytest.mark.browser


@override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")
def test_lead_sees_the_ladder_and_acknowledging_stops_it(
    browser, live_server, lead, responder, screenshot_dir
):
    base = live_server.url
    people = staff_the_ladder()
    rotation = OnCallRotation.objects.get(name="Primary on-call")
    RotationMember.objects.create(rotation=rotation, user=responder, position=1)
    RotationOverride.objects.create(
        rotation=rotation,
        user=people["lead-lars"],
        starts_at=timezone.now() + timedelta(days=2),
        ends_at=timezone.now() + timedelta(days=3),
        reason="swap for a day off",
        created_by=lead,
    )
    rotation.starts_on = timezone.localdate() - timedelta(days=1)
    rotation.save()
    service = Service.objects.create(name="Checkout")
    incident = actions.declare_incident(
        title="Checkout returns 502 for EU users",
        severity="P0",
        declared_by=responder,
        services=[service],
    )
    # What beat's sweep does every 30 s, and the worker's delivery of the pending email.
    sweep_escalations()
    for pk in NotificationDelivery.objects.filter(state="pending").values_list("pk", flat=True):
        deliver_notification.apply(args=[pk])

    page = browser.new_page(viewport={"width": 1360, "height": 1000})
    errors: list[str] = []
    watch_errors(page, errors)
    log_in(page, base, lead.username, PASSWORD)
    page.goto(f"{base}/incidents/{incident.pk}/")

    panel = page.locator("#escalation")
    expect(panel).to_be_visible()
    expect(panel.locator(".esc-state")).to_have_text("climbing")
    expect(panel.locator("#esc-level-1")).to_have_attribute("data-state", "paged")
    expect(panel.locator("#esc-level-1 .esc-delivery.is-sent")).to_contain_text(
        "oncall-olga@example.com"
    )
    expect(panel.locator("#esc-level-1 .esc-delivery.is-skipped")).to_contain_text("Slack")
    expect(panel.locator("#esc-level-2")).to_have_attribute("data-state", "pending")
    expect(panel.get_by_role("button", name="Escalate now")).to_be_visible()
    expect(page.locator(".event-escalation_paged")).to_contain_text("paged L1")
    page.screenshot(path=str(screenshot_dir / "escalation-panel-paged.png"), full_page=True)

    page.locator(".ack-form").get_by_role("button", name="Acknowledge").click()
    expect(panel.locator(".esc-state")).to_have_text("stopped · acknowledged")
    for level in (2, 3, 4):
        expect(panel.locator(f"#esc-level-{level}")).to_have_attribute("data-state", "stopped")
    expect(panel.locator("#esc-level-1")).to_have_attribute("data-state", "paged")
    # The ladder no longer climbs by itself; a lead can still pull in the next level.
    expect(panel.get_by_role("button", name="Escalate now")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "escalation-panel-stopped.png"), full_page=True)

    for path, name in [
        ("/incidents/escalation/", "escalation-policies"),
        ("/incidents/escalation/P0/edit/", "escalation-policy-form"),
        ("/incidents/oncall/", "oncall"),
        (f"/incidents/oncall/{rotation.pk}/", "rotation-form"),
        ("/incidents/profile/", "profile"),
    ]:
        page.goto(f"{base}{path}")
        expect(page.locator("h1")).to_be_visible()
        page.screenshot(path=str(screenshot_dir / f"{name}.png"), full_page=True)
    page.goto(f"{base}/incidents/oncall/")
    expect(page.locator(f"#rotation-{rotation.pk} .oc-now strong")).to_have_text("oncall-olga")
    assert errors == []
    page.close()
