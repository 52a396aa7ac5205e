"""A lead puts a service on the public status page under a public name and moves it first;
an anonymous visitor sees it. A responder made Communicator while the incident page is open
gets the status-update editor without a reload, and keeps what they type across polls."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from incidents import actions
from incidents.models import Service
from tests.browser.conftest import log_in, watch_errors
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_lead_shows_and_renames_a_component_and_visitors_see_it(
    browser, live_server, lead, responder, screenshot_dir
):
    base = live_server.url
    Service.objects.create(name="payments-api", public=True, public_name="Payments", position=1)
    search = Service.objects.create(name="search-api", owner_team="Discovery")
    Service.objects.create(name="batch-exports", owner_team="Data")
    errors: list[str] = []

    visitor = browser.new_context(viewport={"width": 1100, "height": 900})
    console = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        public = visitor.new_page()
        watch_errors(public, errors)
        public.goto(f"{base}/status/")  # cached from here on
        expect(public.locator(".sp-component")).to_have_count(1)

        page = console.new_page()
        watch_errors(page, errors)
        log_in(page, base, lead.username, PASSWORD)
        page.click("nav >> text=Comms")
        page.click(".cp-tabs >> text=Status page components")
        expect(page.locator("h1")).to_have_text("Status page components")
        row = page.locator(f"#service-{search.pk}")
        expect(row).to_contain_text("Discovery")

        row.get_by_role("button", name="Show search-api on the status page").click()
        expect(page.locator(".toast")).to_contain_text("is on the status page")
        row = page.locator(f"#cp-shown #service-{search.pk}")
        expect(row.locator(".rl-pos")).to_have_text("2")
        row.get_by_label("Public name of search-api").fill("Search")
        row.get_by_label("Public description of search-api").fill("Product search and filters")
        row.get_by_role("button", name="Save search-api").click()
        expect(page.locator(".toast")).to_contain_text("shown as “Search”")
        page.locator(f"#service-{search.pk}").get_by_role("button", name="Move Search up").click()
        expect(page.locator("#cp-shown tbody tr").first).to_have_id(f"service-{search.pk}")
        page.screenshot(path=str(screenshot_dir / "status-components.png"), full_page=True)

        # A name another component already has is refused in the row, with what was typed.
        row = page.locator(f"#service-{search.pk}")
        row.get_by_label("Public name of search-api").fill("payments")
        row.get_by_role("button", name="Save search-api").click()
        expect(page.locator(f"#service-{search.pk} .field-error")).to_contain_text(
            "already the public name of payments-api"
        )
        expect(
            page.locator(f"#service-{search.pk}").get_by_label("Public name of search-api")
        ).to_have_value("payments")
        page.screenshot(path=str(screenshot_dir / "status-components-error.png"), full_page=True)

        public.reload()
        expect(public.locator(".sp-component")).to_have_count(2)
        expect(public.locator(".sp-component").first).to_contain_text("Search")
        expect(public.locator(".sp-component").nth(1)).to_contain_text("Payments")
        assert "search-api" not in public.content()
        public.screenshot(path=str(screenshot_dir / "status-components-public.png"), full_page=True)
        # A responder reads the same list, without the controls.
        reader = browser.new_context(viewport={"width": 1400, "height": 700})
        page = reader.new_page()
        watch_errors(page, errors)
        log_in(page, base, responder.username, PASSWORD)
        page.goto(f"{base}/incidents/status-page/components/")
        expect(page.locator("#cp-shown .cp-row").first).to_contain_text("Search")
        expect(page.locator("#cp-shown .cp-row").first).to_contain_text("Product search")
        expect(page.locator("main form")).to_have_count(0)
        page.screenshot(path=str(screenshot_dir / "status-components-read.png"), full_page=True)
        reader.close()
    finally:
        console.close()
        visitor.close()
    assert errors == [] or all("422" in e for e in errors), errors


def test_new_communicator_gets_the_editor_without_a_reload(
    browser, live_server, responder, lead, screenshot_dir
):
    base = live_server.url
    incident = actions.declare_incident(title="Search is slow", severity="P2", declared_by=lead)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    try:
        page = context.new_page()
        watch_errors(page, errors)
        log_in(page, base, responder.username, PASSWORD)
        page.goto(f"{base}/incidents/{incident.pk}/")
        page.evaluate("window.__noReload = 'still here'")
        entry = page.locator("#su-entry >> text=Write a status update…")
        expect(entry).to_have_count(0)

        actions.assign_role(incident, role="communicator", user=responder, by=lead)
        expect(entry).to_be_visible(timeout=7_000)
        entry.click()
        body = page.locator("#su-editor #su-body")
        expect(body).to_be_visible()
        expect(entry).to_be_hidden()  # the editor's own button takes over
        body.fill("We are looking into slow searches.")

        # Polls keep swapping the live parts (and the way in); the text stays.
        actions.add_note(incident, text="index rebuild running", by=lead)
        expect(page.locator("#timeline-live")).to_contain_text(
            "index rebuild running", timeout=7_000
        )
        expect(body).to_have_value("We are looking into slow searches.")
        expect(entry).to_be_hidden()
        assert page.locator("#su-editor").count() == 1
        assert page.evaluate("window.__noReload") == "still here"
        page.locator("#status-updates").screenshot(
            path=str(screenshot_dir / "status-update-entry.png")
        )
    finally:
        context.close()
    assert errors == []
