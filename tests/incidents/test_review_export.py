"""Bulk export of reviews: a real Celery worker writes the zip under VAR_DIR and updates
the progress row the page polls; without a broker, small exports run inline."""

from __future__ import annotations

import io
import json
import time
import zipfile
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest
import time_machine
from django.db import connection
from django.db.models import F
from django.utils import timezone
from markdown_it import MarkdownIt

from incidents.reviews.export import review_document, schema, to_pdf
from incidents.reviews.models import PostIncidentReview, ReviewExport
from incidents.reviews.tasks import CHUNK, MAX_ATTEMPTS, requeue, run_export, sweep_stalled
from tests.conftest import HTMX, client_for
from tests.incidents.reviews_history import many_reviews
from tests.waiting import wait_for
from tests.workers import worker_processes

START = datetime(2026, 5, 4, 8, tzinfo=UTC)
FORM = {"date_from": "2026-05-01", "date_to": "2026-05-31", "service": ""}


def read_zip(response) -> zipfile.ZipFile:
    data = b"".join(response.streaming_content)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    return archive


@pytest.mark.django_db(transaction=True)
def test_bulk_export_of_1000_reviews_with_a_real_worker(manager, service):
    many_reviews(1000, manager, service, START)
    client = client_for(manager)
    with worker_processes("reviews-export@test"):
        began = time.perf_counter()
        response = client.post(
            "/incidents/reviews/export/", {**FORM, "severities": ["P1"], "formats": ["md", "json"]}
        )
        assert response.status_code == 302
        export = ReviewExport.objects.get()
        assert response["Location"] == f"/incidents/reviews/export/{export.pk}/"
        assert export.total == 1000
        seen = []

        def finished() -> bool:
            part = client.get(response["Location"], **HTMX)
            assert part.status_code == 200
            export.refresh_from_db()
            seen.append(export.done)
            html = part.content.decode()
            assert 'id="export-progress"' in html and "<progress" in html
            return export.finished

        assert wait_for(finished, 300)
        elapsed = time.perf_counter() - began
    assert export.state == "done", export.error
    assert seen == sorted(seen) and seen[-1] == 1000
    print(f"\nbulk export of 1000 reviews (md+json): {elapsed:.1f} s, progress seen {seen[:8]}…")
    page = client.get(response["Location"]).content.decode()
    assert "Download zip" in page and "every 1s" not in page  # finished: polling stops
    download = client.get(f"/incidents/reviews/export/{export.pk}/download/")
    assert download.status_code == 200
    archive = read_zip(download)
    names = archive.namelist()
    assert len(names) == 2000
    folders = {name.split("/")[0] for name in names}
    assert len(folders) == 1000
    sample = sorted(n for n in names if n.endswith("review.json"))[0]
    jsonschema.validate(json.loads(archive.read(sample)), schema())
    md = archive.read(sample.replace(".json", ".md")).decode()
    assert "<h2>Root cause</h2>" in MarkdownIt("commonmark").render(md)


@pytest.mark.django_db(transaction=True)
def test_broker_down_runs_small_exports_inline_and_says_so_for_large(manager, service, dead_broker):
    ids = many_reviews(15, manager, service, START)
    ids += many_reviews(10, manager, service, START + timedelta(days=10))
    client = client_for(manager)
    small = client.post(
        "/incidents/reviews/export/",
        {**FORM, "date_to": "2026-05-04", "formats": ["md", "json", "pdf"]},
    )
    export = ReviewExport.objects.get(pk=small["Location"].rstrip("/").split("/")[-1])
    assert export.state == "done" and export.inline is True
    assert (
        export.total
        == PostIncidentReview.objects.filter(
            incident__declared_at__lt=datetime(2026, 5, 5, tzinfo=UTC)
        ).count()
    )
    page = client.get(small["Location"]).content.decode()
    assert "the task queue was unreachable" in page
    archive = read_zip(client.get(f"/incidents/reviews/export/{export.pk}/download/"))
    assert {n.rsplit("/", 1)[1] for n in archive.namelist()} == {
        "review.md",
        "review.json",
        "review.pdf",
    }

    large = client.post("/incidents/reviews/export/", {**FORM, "formats": ["json"]})
    export = ReviewExport.objects.get(pk=large["Location"].rstrip("/").split("/")[-1])
    assert export.state == "failed" and export.total == len(ids)
    page = client.get(large["Location"]).content.decode()
    assert "task queue is unreachable" in page
    assert client.get(f"/incidents/reviews/export/{export.pk}/download/").status_code == 404


@pytest.mark.django_db
def test_export_form_errors(manager):
    client = client_for(manager)
    response = client.post(
        "/incidents/reviews/export/",
        {"date_from": "2026-05-31", "date_to": "2026-05-01", "formats": ["md"]},
    )
    assert response.status_code == 422
    assert "ends before it starts" in response.content.decode()
    response = client.post("/incidents/reviews/export/", {**FORM, "formats": ["md"]})
    assert response.status_code == 422 and "No review matches" in response.content.decode()
    assert not ReviewExport.objects.exists()


@pytest.mark.django_db
def test_pdf_time_per_review(manager, service):
    many_reviews(10, manager, service, START)
    began = time.perf_counter()
    for review in PostIncidentReview.objects.select_related("incident"):
        assert to_pdf(review_document(review)).startswith(b"%PDF")
    per_review = (time.perf_counter() - began) / 10
    print(f"\nPDF export: {per_review * 1000:.0f} ms per review")


def _claimed_export(manager, service, n: int) -> ReviewExport:
    """An export of n reviews claimed by a worker that then died: the real claim, no chunk."""
    many_reviews(n, manager, service, START)
    from incidents.reviews.tasks import matching_reviews

    filters = {"date_from": "2026-05-01", "date_to": "2026-05-31", "severities": []}
    export = ReviewExport.objects.create(
        requested_by=manager,
        filters=filters,
        formats=["json"],
        total=matching_reviews(filters).count(),
    )
    claimed = ReviewExport.objects.filter(pk=export.pk, state="queued").update(
        state="running", heartbeat_at=timezone.now(), attempts=F("attempts") + 1
    )
    assert claimed == 1
    return export


@pytest.mark.django_db(transaction=True)
def test_export_whose_worker_died_is_shown_stalled_and_requeued_once(manager, service):
    client = client_for(manager)
    with time_machine.travel(datetime(2026, 6, 1, 9, tzinfo=UTC), tick=False) as clock:
        export = _claimed_export(manager, service, 12)
        url = f"/incidents/reviews/export/{export.pk}/"
        clock.shift(timedelta(minutes=4, seconds=59))
        assert sweep_stalled() == []
        part = client.get(url, **HTMX).content.decode()
        assert 'data-state="running"' in part and "stalled" not in part
        assert "export-restart" not in part

        clock.shift(timedelta(seconds=2))
        part = client.get(url, **HTMX).content.decode()
        assert "stalled" in part and "No progress since 09:00" in part
        assert 'id="export-restart"' in part and 'hx-trigger="every 10s"' in part
        # Two sweeps (two beat ticks, or two beats by mistake): one re-queue.
        with worker_processes("reviews-export@stalled"):
            requeued = [sweep_stalled(), sweep_stalled()]
            assert requeued == [[export.pk], []]
            assert wait_for(lambda: ReviewExport.objects.get(pk=export.pk).finished, 120)
    export.refresh_from_db()
    assert export.state == "done" and export.attempts == 2 and export.done == 12
    archive = read_zip(client.get(f"/incidents/reviews/export/{export.pk}/download/"))
    assert len(archive.namelist()) == 12


@pytest.mark.django_db
def test_slow_but_alive_export_is_not_taken_back(manager, service):
    """Each chunk takes 4 minutes (the clock moves when the task writes its progress): the
    export runs 12 minutes, past the 5-minute stall limit, and every sweep meanwhile leaves it
    alone because its heartbeat is never older than 4 minutes."""
    many_reviews(3 * CHUNK, manager, service, START)
    export = ReviewExport.objects.create(
        requested_by=manager,
        filters={"date_from": "2026-05-01", "date_to": "2026-05-31"},
        formats=["json"],
        total=3 * CHUNK,
    )
    swept = []
    with time_machine.travel(datetime(2026, 6, 1, 9, tzinfo=UTC), tick=False) as clock:

        def slow_chunks(execute, sql, params, many, context):
            result = execute(sql, params, many, context)
            if 'SET "done"' in sql and "heartbeat_at" in sql:  # a chunk written
                clock.shift(timedelta(minutes=4))
                swept.append(sweep_stalled())
            return result

        with connection.execute_wrapper(slow_chunks):
            assert run_export(export.pk) is True
        elapsed = timezone.now() - datetime(2026, 6, 1, 9, tzinfo=UTC)
    export.refresh_from_db()
    assert elapsed == timedelta(minutes=12)
    assert swept == [[], [], []]
    assert export.state == "done" and export.attempts == 1 and export.done == 3 * CHUNK


@pytest.mark.django_db
def test_worker_that_lost_its_claim_stops_and_the_new_claim_finishes(manager, service):
    """A worker that was only paused (not dead) past the stall limit finds at its next chunk
    that its claim was taken back, and stops without touching the new attempt's file."""
    export = _claimed_export(manager, service, 2 * CHUNK)
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
        assert requeue(export.pk) is True
        assert requeue(export.pk) is False  # the second press finds it queued
    assert run_export(export.pk) is True
    export.refresh_from_db()
    assert export.state == "done" and export.attempts == 2
    # The first claim (attempt 1) can no longer write progress.
    stale = ReviewExport.objects.filter(pk=export.pk, state="running", attempts=1)
    assert stale.update(done=1) == 0


@pytest.mark.django_db
def test_sweep_gives_up_after_max_attempts(manager, service):
    export = _claimed_export(manager, service, 3)
    ReviewExport.objects.filter(pk=export.pk).update(attempts=MAX_ATTEMPTS)
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
        assert sweep_stalled() == []
    export.refresh_from_db()
    assert export.state == "failed" and "stopped making progress 3 times" in export.error


@pytest.mark.django_db(transaction=True)
def test_start_again_after_failure_and_its_permissions(manager, lead, service, dead_broker):
    ids = many_reviews(3, manager, service, START)
    export = ReviewExport.objects.create(
        requested_by=manager,
        filters={"date_from": "2026-05-01", "date_to": "2026-05-31"},
        formats=["md"],
        total=len(ids),
        state="failed",
        error="OSError: disk full",
    )
    url = f"/incidents/reviews/export/{export.pk}/restart/"
    assert client_for(lead).post(url).status_code == 403
    assert client_for(manager).get(url).status_code == 405
    page = client_for(manager).get(f"/incidents/reviews/export/{export.pk}/").content.decode()
    assert "disk full" in page and f'action="{url}"' in page
    response = client_for(manager).post(url)
    assert response.status_code == 302
    export.refresh_from_db()
    # No broker: three reviews run straight away.
    assert export.state == "done" and export.inline and export.attempts == 1 and not export.error
    assert client_for(manager).post(url).status_code == 409
    missing = f"/incidents/reviews/export/{export.pk + 1}/restart/"
    assert client_for(manager).post(missing).status_code == 404
