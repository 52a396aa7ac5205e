"""A responder declares a Redis incident, attaches the suggested runbook scenario and follows it:
ticks, a skip with a reason, a note typed while a colleague ticks another step. Everything shows
up without a reload."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from incidents.models import Incident, TimelineEvent
from runbooks import checklists
from runbooks.importer import import_runbook
from runbooks.models import StepRun
from tests.browser.conftest import log_in, watch_errors
from tests.conftest import PASSWORD
from tests.seeds import SEED_FILES, needs_seeds

pytestmark = pytest.mark.browser

@needs_seeds
def test_follow_the_suggested_runbook_live(browser, live_server, responder, lead, screenshot_dir):
    for path in SEED_FILES:
        import_runbook(path.read_bytes(), filename=path.name)
    base = live_server.url
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    try:
        page = context.new_page()
        watch_errors(page, errors)
        log_in(page, base, responder.username, PASSWORD)

        page.click("text=Declare incident")
        page.fill("input[name=title]", "Redis connection errors in production")
        page.check("input[name=severity][value=P1]")
        page.click("form#declare-form button[type=submit]")
        page.wait_for_url(re.compile(r"/incidents/\d+/$"))
        incident = Incident.objects.get()
        page.evaluate("window.__noReload = 'still here'")

        # The suggestion comes first; attaching it turns it into a checklist.
        best = page.locator(".cl-suggestion").first
        expect(best).to_contain_text("Redis Connection Issues")
        expect(best).to_contain_text("best match")
        best.get_by_role("button", name="Attach Redis Connection Issues").click()
        run = page.locator(".cl-run")
        expect(run).to_have_count(1)
        total = StepRun.objects.filter(run__incident=incident).count()
        expect(run.locator(".cl-fraction")).to_have_text(f"0/{total}")
        expect(page.locator("#timeline-live")).to_contain_text(
            "attached the scenario Redis Connection Issues"
        )
        expect(page.locator(".cl-suggestion", has_text="Redis Connection Issues")).to_have_count(0)

        # Tick two steps, skip a third with a reason.
        steps = run.locator(".cl-step")
        steps.nth(0).locator("button.cl-tick").click()
        expect(steps.nth(0)).to_have_class(re.compile(r"\bis-done\b"))
        steps.nth(1).locator("button.cl-tick").click()
        expect(steps.nth(1)).to_have_class(re.compile(r"\bis-done\b"))
        skipped = steps.nth(2)
        skipped.locator("summary", has_text="Skip").click()
        skipped.locator("input[name=reason]").fill("No Redis dashboard on this stack yet")
        skipped.locator("input[name=reason]").press("Enter")
        expect(skipped).to_have_class(re.compile(r"\bis-skipped\b"))
        expect(skipped).to_contain_text("No Redis dashboard on this stack yet")

        expect(run.locator(".cl-fraction")).to_have_text(f"3/{total}")
        expect(run.locator(".cl-count.is-done")).to_have_text("2 done")
        expect(run.locator(".cl-count.is-skipped")).to_have_text("1 skipped")
        expect(run.locator(".cl-count.is-pending")).to_have_text(f"{total - 3} to do")
        expect(run.locator(".cl-seg.is-done")).to_have_count(2)
        expect(run.locator(".cl-seg.is-skipped")).to_have_count(1)
        expect(run.locator(".cl-bar")).to_have_attribute("aria-valuenow", "3")
        timeline = page.locator("#timeline-live")
        expect(timeline).to_contain_text("ticked Check Redis health:")
        expect(timeline).to_contain_text("ticked Test Redis connection:")
        expect(timeline).to_contain_text("skipped Check Redis metrics:")
        expect(timeline).to_contain_text("No Redis dashboard on this stack yet")

        # A note half typed survives a colleague's tick arriving through the poll.
        noted = steps.nth(4)
        noted.locator("summary", has_text="Note").click()
        note = noted.locator("input[name=text]")
        note.fill("412 clients, limit is 500")
        colleague_step = StepRun.objects.select_related("run__scenario").get(
            run__incident=incident, position=6
        )
        checklists.complete_step(colleague_step, by=lead)
        expect(timeline).to_contain_text(
            f"{lead.username} ticked Check environment variables:", timeout=7_000
        )
        expect(steps.nth(6)).to_have_class(re.compile(r"\bis-done\b"))
        expect(run.locator(".cl-fraction")).to_have_text(f"4/{total}")
        expect(note).to_have_value("412 clients, limit is 500")
        expect(note).to_be_focused()
        note.press("End")
        note.type(" (82%)")
        note.press("Enter")
        expect(noted.locator(".cl-note")).to_contain_text("412 clients, limit is 500 (82%)")
        expect(timeline).to_contain_text("noted on Connection count")

        assert page.evaluate("window.__noReload") == "still here"
        states = dict(
            StepRun.objects.filter(run__incident=incident).values_list("position", "state")
        )
        assert [states[p] for p in range(7)] == [
            "done",
            "done",
            "skipped",
            "pending",
            "pending",
            "pending",
            "done",
        ]
        kinds = list(incident.events.order_by("id").values_list("kind", flat=True))
        assert kinds[1:] == [
            TimelineEvent.Kind.CHECKLIST_ATTACHED,
            TimelineEvent.Kind.STEP_DONE,
            TimelineEvent.Kind.STEP_DONE,
            TimelineEvent.Kind.STEP_SKIPPED,
            TimelineEvent.Kind.STEP_DONE,
            TimelineEvent.Kind.STEP_NOTED,
        ]
        page.locator("#checklists").scroll_into_view_if_needed()
        page.screenshot(path=str(screenshot_dir / "incident-checklist.png"), full_page=True)
        assert errors == []
    finally:
        context.close()
