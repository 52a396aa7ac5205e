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
from markdown_it import MarkdownIt

from incidents.reviews.export import review_document, schema, to_pdf
from incidents.reviews.models import PostIncidentReview, ReviewExport
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
