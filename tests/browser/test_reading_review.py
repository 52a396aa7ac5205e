"""A lead corrects how a runbook was read (a section made a procedure, renamed, given a
severity); a responder then attaches it on an incident, and follows a section that is no
unit at all through the section search."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from incidents import actions
from runbooks.importer import import_runbook
from runbooks.models import ChecklistRun, ReadingCorrection
from tests.browser.conftest import log_in, watch_errors
from tests.conftest import PASSWORD
from tests.runbooks.test_reading_review import QUEUE

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots-11-review")
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(SHOTS / f"{name}-1440.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(SHOTS / f"{name}-390.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def test_lead_corrects_the_reading_and_a_responder_attaches_it(
    browser, live_server, lead, responder, service
):
    import_runbook(QUEUE, filename="queue.md", by=lead)
    import_runbook(QUEUE.replace("Restart the worker", "Recycle the pod"), filename="queue-k8s.md")
    incident = actions.declare_incident(
        title="Jobs pile up in the default queue",
        severity="P2",
        declared_by=responder,
        services=[service],
    )
    base = live_server.url
    errors: list[str] = []

    # -- The lead reads the review and corrects one section ------------------------------
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        watch_errors(page, errors)
        log_in(page, base, lead.username, PASSWORD)
        page.goto(f"{base}/runbooks/queue/")
        page.click("#reading-review-link")
        page.wait_for_url(f"{base}/runbooks/queue/v/1/reading/")
        expect(page.locator("h1")).to_have_text("Reading review")

        row = page.locator(".rv-section[data-path='queue-service-runbook/escalation']")
        expect(row.locator(".rv-role")).to_have_text("not a unit")
        expect(row).to_contain_text("3 steps if followed")
        scenario = page.locator(".rv-section[data-path='queue-service-runbook/worker-stuck-p2']")
        expect(scenario.locator(".rv-role")).to_have_text("scenario")
        scenario.locator(".rv-checklist > summary").click()
        expect(scenario.locator(".rv-step")).to_have_count(2)
        expect(
            page.locator(".rv-section[data-path='queue-service-runbook/worker-stuck-p2/symptoms']")
        ).to_contain_text("context")

        row.locator(".rv-correct > summary").click()
        row.locator("select[name=kind]").select_option("procedure")
        row.locator("input[name=title]").fill("Escalate a stuck queue")
        row.locator("select[name=severity]").select_option("P1")
        shoot(page, "reading-correct-form")
        row.get_by_role("button", name="Save correction").click()
        page.wait_for_url(re.compile(r"/runbooks/queue/v/1/reading/#review-escalation$"))
        expect(page.locator("#toasts")).to_contain_text("Correction saved")

        row = page.locator(".rv-section[data-path='queue-service-runbook/escalation']")
        expect(row.locator(".rv-role")).to_have_text("procedure")
        expect(row.locator(".sev-badge")).to_have_text("P1")
        expect(row.locator(".rv-title")).to_have_text("Escalate a stuck queue")
        expect(row.locator(".rv-was")).to_contain_text("Read as not a unit “Escalation”")
        expect(row.locator(".rv-step")).to_have_count(3)
        expect(page.locator(".rv-log")).to_contain_text("kind as read → procedure")
        assert ReadingCorrection.objects.get().corrected_by == lead
        shoot(page, "reading-review")

        # The runbook page shows it as a procedure too.
        page.click("text=Read the runbook")
        expect(page.locator("#escalation .rb-unit-head")).to_contain_text("P1")
        expect(page.locator("#escalation .rb-kind")).to_have_text("procedure")
    finally:
        context.close()

    # -- A responder attaches it, and a section that is no unit ------------------------
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        watch_errors(page, errors)
        log_in(page, base, responder.username, PASSWORD)
        page.goto(f"{base}/incidents/{incident.pk}/")

        menu = page.locator("#cl-attach-other select[name=scenario]")
        # Two runbooks share the title: the menu names their files.
        expect(menu.locator("optgroup")).to_have_count(2)
        expect(menu.locator("optgroup[label='Queue service runbook (queue.md)']")).to_have_count(1)
        option = menu.locator(
            "optgroup[label='Queue service runbook (queue.md)'] option",
            has_text="Escalate a stuck queue · P1",
        )
        menu.select_option(option.get_attribute("value"))
        page.locator("#cl-attach-other button[type=submit]").click()
        run = page.locator(".cl-run", has_text="Escalate a stuck queue")
        expect(run).to_have_count(1)
        expect(run.locator(".sev-badge")).to_have_text("P1")
        expect(run.locator(".cl-fraction")).to_have_text("0/3")
        expect(page.locator("#timeline-live")).to_contain_text(
            "attached the procedure Escalate a stuck queue"
        )

        # The other runbook's escalation list was not corrected: it is no unit there, and
        # the section search still finds it and attaches it as a checklist of its steps.
        search = page.locator("#cl-sections-q")
        search.fill("vendor ticket")
        results = page.locator(".cl-section-result")
        expect(results).to_have_count(2)
        expect(results.filter(has_text="queue.md")).to_contain_text("Escalate a stuck queue")
        other = results.filter(has_text="queue-k8s.md")
        expect(other).to_contain_text("Escalation")
        expect(other).to_contain_text("3 steps")
        shoot(page, "incident-section-search")
        other.get_by_role("button", name="Attach section Escalation").click()
        expect(page.locator(".cl-run")).to_have_count(2)
        expect(page.locator("#timeline-live")).to_contain_text("attached the section Escalation")
        section_run = page.locator(".cl-run").nth(1)
        expect(section_run.locator(".cl-fraction")).to_have_text("0/3")
        expect(section_run.locator(".cl-run-source")).to_contain_text("queue-k8s.md")
        runs = ChecklistRun.objects.filter(incident=incident).select_related("scenario__version")
        assert sorted(
            (r.scenario.kind, r.scenario.title, r.scenario.version.filename) for r in runs
        ) == [
            ("procedure", "Escalate a stuck queue", "queue.md"),
            ("section", "Escalation", "queue-k8s.md"),
        ]
        page.locator("#checklists").scroll_into_view_if_needed()
        shoot(page, "incident-attached")
        assert errors == []
    finally:
        context.close()
