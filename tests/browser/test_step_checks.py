"""A lead accepts a runbook's step checks; a responder runs one from the incident's checklist
through a real Celery worker, sees "Running…" then the result inline and on the timeline, and
ticks the step from the passing result."""

from __future__ import annotations

import re

import pytest
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import expect

from console.celery import app
from incidents import actions
from incidents.models import TimelineEvent
from probes.models import ProbeResult, StepCheck
from runbooks import checklists
from runbooks.importer import import_runbook
from tests.browser.conftest import log_in, watch_errors
from tests.conftest import PASSWORD
from tests.probes.servers import http_server, json_answer
from tests.runbooks.test_step_checks import runbook_text

pytestmark = pytest.mark.browser


def test_accept_then_run_a_check_from_the_checklist(
    browser, live_server, responder, lead, screenshot_dir
):
    with http_server({"/health": json_answer(200, {"status": "healthy"}, delay=0.3)}) as (
        target,
        recorder,
    ):
        version = import_runbook(runbook_text(target), filename="cache.md", by=lead).version
        incident = actions.declare_incident(
            title="Cache pages time out", severity="P1", declared_by=responder
        )
        base = live_server.url
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        try:
            page = context.new_page()
            watch_errors(page, errors)

            # The lead reads the proposal on the runbook page and accepts it.
            log_in(page, base, lead.username, PASSWORD)
            page.goto(f"{base}{version.get_absolute_url()}")
            proposal = page.locator(".rb-proposal", has_text="can run their check")
            expect(proposal).to_contain_text(f"HTTP GET {target}/health")
            proposal.get_by_role("button", name="Accept").click()
            expect(page.locator(".toast").first).to_contain_text("2 step checks bound")
            assert StepCheck.objects.filter(runbook=version.runbook).count() == 2
            page.context.clear_cookies()

            run = checklists.attach_scenario(incident, version.scenarios.get(), by=responder)
            step = run.steps.get(position=0)
            log_in(page, base, responder.username, PASSWORD)
            page.goto(f"{base}{incident.get_absolute_url()}")
            check = page.locator(f"#step-{step.pk}-check")
            expect(check).to_contain_text("HTTP check")
            # What it will check, before it runs.
            expect(check.locator(".cl-check-target")).to_contain_text("checks GET http://127.0.0.1")

            app.control.purge()
            with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False):
                check.get_by_role("button", name="Run check").click()
                # The server answers after 300 ms: the step shows the run in progress first.
                expect(page.locator(f"#step-{step.pk}-check")).to_contain_text(
                    re.compile("Running…|HTTP 200")
                )
                expect(page.locator(f"#step-{step.pk}-check")).to_contain_text(
                    "HTTP 200 in", timeout=15_000
                )
            check = page.locator(f"#step-{step.pk}-check")
            expect(check.locator(".probe-state")).to_have_text("OK")
            expect(check).not_to_contain_text("task queue is unavailable")
            timeline = page.locator("#timeline-live")
            checked = timeline.locator(".event-probe_result")
            expect(checked).to_contain_text(
                "ran the check on Check the health endpoint", timeout=7_000
            )
            expect(checked).to_contain_text("HTTP 200 in")
            assert recorder.paths == ["/health"]
            result = ProbeResult.objects.get()
            assert result.source == "manual" and result.latency_ms >= 300

            page.locator(f"#step-{step.pk}-check").scroll_into_view_if_needed()
            page.screenshot(path=str(screenshot_dir / "step-check.png"), full_page=False)

            check.get_by_role("button", name="Tick: check passed").click()
            expect(page.locator(f"#step-{step.pk}")).to_have_class(re.compile(r"\bis-done\b"))
            expect(timeline.locator(".event-step_done")).to_contain_text("check passed")
            kinds = list(incident.events.order_by("id").values_list("kind", flat=True))
            assert kinds[-2:] == [TimelineEvent.Kind.PROBE_RESULT, TimelineEvent.Kind.STEP_DONE]
            assert errors == []
        finally:
            context.close()
