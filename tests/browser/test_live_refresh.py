"""The live refresh repairs every panel after an action: the clicked button keeping the focus
no longer freezes its panel. Only a panel with unsaved typing waits, and it refreshes once the
focus leaves it, with the typed text kept."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from incidents import actions
from incidents.models import Role, Status
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def lead_page(browser, live_server, lead):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    log_in(page, live_server.url, lead.username, PASSWORD)
    yield page
    context.close()


def test_acknowledge_updates_the_header_without_a_reload(lead_page, live_server, incident):
    page = lead_page
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    page.evaluate("window.__noReload = 1")
    header = page.locator("#incident-header")
    expect(header).to_contain_text("left")
    header.get_by_role("button", name="Acknowledge").click()
    expect(header).to_contain_text("acknowledged in", timeout=6_000)
    expect(header.get_by_role("button", name="Acknowledge")).to_have_count(0)
    # Later polls (304) keep it that way.
    page.wait_for_timeout(5_500)
    expect(header).to_contain_text("acknowledged in")
    assert page.evaluate("window.__noReload") == 1


def test_resolve_reason_leaves_the_status_field(lead_page, live_server, incident):
    page = lead_page
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    controls = page.locator("#controls")
    controls.locator("select[name=status]").select_option("resolved")
    controls.locator("input[name=note]").fill("Rolled back the deploy")
    controls.get_by_role("button", name="Update status").click()
    expect(page.locator("#incident-header")).to_contain_text("Resolved", timeout=6_000)
    # The panel was refreshed although its button kept the focus: the reason is gone.
    expect(controls.locator("input[name=note]")).to_have_value("")
    expect(controls.locator("select[name=status]")).to_have_value("resolved")
    incident.refresh_from_db()
    assert incident.status == Status.RESOLVED


def test_unsaved_typing_waits_then_refreshes_when_the_focus_leaves(
    lead_page, live_server, incident, lead
):
    page = lead_page
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    page.evaluate("window.__noReload = 1")
    note = page.locator("#controls input[name=note]")
    note.fill("half a reason")  # typed, focused, not sent
    # Someone else changes the incident: the severity panel (in #controls) must not be
    # replaced under the typing.
    actions.change_severity(incident, to="P0", by=lead, reason="checkout down everywhere")
    expect(page.locator("#incident-header .sev-badge").first).to_have_text("P0", timeout=6_500)
    expect(page.locator("#controls select[name=severity]")).to_have_value("P1")
    expect(note).to_be_focused()
    expect(note).to_have_value("half a reason")
    # Focus leaves: the panel comes up to date and keeps the typed text.
    page.locator("#timeline-live").click(position={"x": 5, "y": 5})
    expect(page.locator("#controls select[name=severity]")).to_have_value("P0", timeout=6_000)
    expect(page.locator("#controls input[name=note]")).to_have_value("half a reason")
    assert page.evaluate("window.__noReload") == 1


def test_a_panel_focused_on_a_button_refreshes(lead_page, live_server, incident, lead):
    page = lead_page
    page.goto(f"{live_server.url}/incidents/{incident.pk}/")
    page.locator("#roles button").first.focus()
    actions.assign_role(incident, role=Role.COMMANDER, user=lead, by=lead)
    expect(page.locator(".role[data-role=commander] .role-holder")).to_contain_text(
        lead.username, timeout=6_500
    )
