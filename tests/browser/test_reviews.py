"""A manager opens the review of a resolved P1, edits the root cause, publishes it and
downloads the PDF; its first page is rendered to PNG to look at. Also screenshots of the
reviews list, the metrics page, and a bulk export run by a real worker, downloaded."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pypdfium2
import pytest
from django.utils import timezone
from playwright.sync_api import expect
from pypdf import PdfReader

from console.celery import app
from incidents.models import Service
from incidents.reviews import actions as review_actions
from incidents.reviews.models import ActionItem, PostIncidentReview, ReviewExport
from tests.browser.conftest import log_in, watch_errors
from tests.conftest import PASSWORD
from tests.incidents.reviews_history import rich_incident
from tests.workers import worker_processes

pytestmark = pytest.mark.browser


def test_manager_edits_publishes_and_downloads_the_review_pdf(
    browser, live_server, responder, lead, manager, screenshot_dir
):
    base = live_server.url
    service = Service.objects.create(name="Payments")
    incident = rich_incident(responder, lead, service, start=timezone.now() - timedelta(days=3))
    review = incident.review
    review_actions.add_action_item(
        review,
        by=lead,
        title="Alert on pool saturation",
        owner=lead,
        due_date=timezone.localdate() - timedelta(days=1),
    )
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    try:
        page = context.new_page()
        watch_errors(page, errors)
        log_in(page, base, manager.username, PASSWORD)
        page.click("nav.topnav >> text=Reviews")
        page.wait_for_url(f"{base}/incidents/reviews/")
        row = page.locator("tr.rv-overdue", has_text="Checkout returns 502")
        expect(row).to_be_visible()
        page.screenshot(path=str(screenshot_dir / "reviews-list.png"), full_page=True)

        row.locator("a").first.click()
        page.wait_for_url(f"{base}/incidents/{incident.pk}/review/")
        expect(page.locator("#review-state")).to_have_text("Draft")
        expect(page.locator("#timeline")).to_contain_text("Checkout health: CRITICAL · 812 ms")
        page.fill("#id_root_cause", "The connection pool was sized for last year's traffic.")
        page.fill("#id_went_well", "Rollback took four minutes.")
        page.locator("#checklist input[type=checkbox]").first.check()
        page.click("#save-review")
        page.wait_for_url(f"{base}/incidents/{incident.pk}/review/")
        expect(page.locator(".toast")).to_contain_text("Review saved")
        page.screenshot(path=str(screenshot_dir / "review-edit.png"), full_page=True)

        page.click("button[value=published]")
        expect(page.locator("#review-state")).to_have_text("Published")
        expect(page.locator(".rv-readonly")).to_be_visible()
        expect(page.locator("#review-form")).to_have_count(0)
        page.screenshot(path=str(screenshot_dir / "review-published.png"), full_page=True)

        with page.expect_download() as info:
            page.click("#download-pdf")
        pdf = info.value.path().read_bytes()
        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
        assert "The connection pool was sized for last year's traffic." in text
        assert "published" in text
        document = pypdfium2.PdfDocument(pdf)
        image = document[0].render(scale=1.5).to_pil()
        image.save(screenshot_dir / "review-pdf-page1.png")
        document.close()

        page.click("nav.topnav >> text=Metrics")
        page.wait_for_url(f"{base}/incidents/metrics/")
        expect(page.locator("svg.mx-chart").first).to_be_visible()
        page.screenshot(path=str(screenshot_dir / "metrics.png"), full_page=True)

        page.goto(f"{base}/incidents/reviews/export/")
        day = incident.declared_at.date().isoformat()
        page.fill("#id_date_from", day)
        page.fill("#id_date_to", day)
        app.control.purge()
        with worker_processes("reviews-browser@test"):
            page.click("#export-form button[type=submit]")
            expect(page.locator("#export-progress")).to_be_visible()
            # The page polls the progress part until the worker is done.
            expect(page.locator("#export-download")).to_be_visible(timeout=60_000)
        expect(page.locator("progress")).to_have_attribute("value", "100")
        page.screenshot(path=str(screenshot_dir / "review-export.png"), full_page=True)
        with page.expect_download() as info:
            page.click("#export-download")
        archive = zipfile.ZipFile(info.value.path())
        assert archive.testzip() is None
        assert sorted(n.rsplit("/", 1)[1] for n in archive.namelist()) == [
            "review.json",
            "review.md",
            "review.pdf",
        ]
        assert errors == []
    finally:
        context.close()
    review.refresh_from_db()
    assert review.state == PostIncidentReview.State.PUBLISHED
    assert review.published_by == manager
    assert review.checklist.filter(done_by=manager).count() == 1
    assert ActionItem.objects.count() == 1


def test_stalled_export_is_shown_and_started_again(
    browser, live_server, responder, lead, manager, screenshot_dir
):
    """An export whose worker died 6 minutes ago: the page says so instead of spinning, and
    Start again hands it to a real worker, which finishes it."""
    service = Service.objects.create(name="Payments")
    incident = rich_incident(responder, lead, service, start=timezone.now() - timedelta(days=3))
    day = incident.declared_at.date().isoformat()
    export = ReviewExport.objects.create(
        requested_by=manager,
        filters={"date_from": day, "date_to": day, "severities": []},
        formats=["md", "json"],
        total=1,
        state=ReviewExport.State.RUNNING,
        attempts=1,
        heartbeat_at=timezone.now() - timedelta(minutes=6),
    )
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    try:
        page = context.new_page()
        watch_errors(page, errors)
        log_in(page, live_server.url, manager.username, PASSWORD)
        page.goto(f"{live_server.url}/incidents/reviews/export/{export.pk}/")
        expect(page.locator("#export-state")).to_contain_text("No progress since")
        expect(page.locator("#export-progress .pill")).to_have_text("stalled")
        page.screenshot(path=str(screenshot_dir / "review-export-stalled.png"), full_page=True)
        app.control.purge()
        with worker_processes("reviews-stalled@test"):
            page.click("#export-restart button")
            expect(page.locator("#export-download")).to_be_visible(timeout=60_000)
        with page.expect_download() as info:
            page.click("#export-download")
        archive = zipfile.ZipFile(info.value.path())
        assert sorted(n.rsplit("/", 1)[1] for n in archive.namelist()) == [
            "review.json",
            "review.md",
        ]
        assert errors == []
    finally:
        context.close()
    export.refresh_from_db()
    assert export.state == ReviewExport.State.DONE and export.attempts == 2
