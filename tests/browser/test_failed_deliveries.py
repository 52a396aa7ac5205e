"""A lead sees that deliveries failed (the nav's count, the health banner), finds them on the
Integrations page with their error, and after the fix has them processed again by a real
worker: the alerts land on an incident and the warnings go away."""

from __future__ import annotations

import json

import pytest
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import expect

from console.celery import app
from incidents.intake.models import InboundEvent, RoutingRule
from incidents.intake.process import MAX_ATTEMPTS, drain, refresh_health
from incidents.models import Incident
from tests.browser.conftest import log_in, watch_errors
from tests.conftest import PASSWORD
from tests.incidents.test_intake import ALERTMANAGER, make_integration
from tests.waiting import wait_for

pytestmark = pytest.mark.browser


def failed_delivery() -> tuple[InboundEvent, RoutingRule]:
    integration, _ = make_integration(name="Prometheus production")
    rule = RoutingRule.objects.create(  # saved past validation, as by older code
        name="Payments only", conditions=[{"field": "labels.job", "op": "regex", "value": "(post"}]
    )
    event = InboundEvent.objects.receive(integration, json.dumps(ALERTMANAGER))
    for _ in range(MAX_ATTEMPTS):
        InboundEvent.objects.filter(pk=event.pk).update(next_attempt_at=None)
        drain(integration.pk)
    event.refresh_from_db()
    assert event.state == "failed"
    refresh_health()
    return event, rule


@pytest.mark.django_db(transaction=True)
def test_a_lead_finds_failed_deliveries_and_processes_them_again(
    browser, live_server, lead, screenshot_dir
):
    base = live_server.url
    event, rule = failed_delivery()
    errors: list[str] = []
    app.control.purge()
    for width, height, name in ((1440, 900, "desktop"), (390, 844, "phone")):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        watch_errors(page, errors)
        log_in(page, base, lead.username, PASSWORD)
        page.goto(f"{base}/incidents/")
        expect(page.locator(".ig-nav-count")).to_have_text("1")
        banner = page.locator("#intake-health")
        expect(banner).to_contain_text("1 delivery could not be processed")
        page.screenshot(path=str(screenshot_dir / f"intake-health-{name}.png"))
        banner.get_by_role("link", name="See the deliveries").click()
        panel = page.locator("#failed-deliveries")
        expect(panel).to_contain_text("1 failed delivery")
        expect(panel.locator(f"#delivery-{event.pk}")).to_contain_text("unterminated subpattern")
        panel.scroll_into_view_if_needed()
        page.screenshot(path=str(screenshot_dir / f"failed-deliveries-{name}.png"), full_page=True)
        context.close()

    # The fix, then Process again: a real worker takes it.
    rule.conditions = [{"field": "labels.job", "op": "regex", "value": "(post).*"}]
    rule.save()
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    watch_errors(page, errors)
    log_in(page, base, lead.username, PASSWORD)
    page.goto(f"{base}/incidents/integrations/")
    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False):
        page.get_by_role("button", name=f"Process delivery {event.pk} again").click()
        expect(page.locator(".toast")).to_contain_text("1 delivery queued to be processed again")
        assert wait_for(lambda: InboundEvent.objects.get(pk=event.pk).state == "processed", 30)
    incident = Incident.objects.get()
    assert incident.alerts.count() == 2 and InboundEvent.objects.get().incident == incident
    page.goto(f"{base}/incidents/")
    expect(page.locator("#intake-health")).to_have_count(0)
    expect(page.locator(".ig-nav-count")).to_have_count(0)
    page.screenshot(path=str(screenshot_dir / "intake-health-cleared.png"))
    context.close()
    assert errors == []
