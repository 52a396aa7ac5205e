"""Bulk export of reviews to a zip under VAR_DIR, with progress on its ReviewExport row."""

from __future__ import annotations

import logging
import os
import zipfile
from datetime import datetime
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from incidents.reviews.export import export_filename, review_document, to_json, to_markdown, to_pdf
from incidents.reviews.models import PostIncidentReview, ReviewExport

log = logging.getLogger(__name__)
CHUNK = 50
# Without a broker an export this small runs in the request; a larger one waits for a worker.
INLINE_LIMIT = 20


def exports_dir() -> Path:
    path = Path(settings.VAR_DIR) / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def matching_reviews(filters: dict) -> QuerySet:
    """Reviews of incidents declared in [date_from, date_to] (days, inclusive), of the
    severities and service chosen."""
    reviews = PostIncidentReview.objects.all()
    tz = timezone.get_current_timezone()
    if filters.get("date_from"):
        start = datetime.fromisoformat(filters["date_from"]).replace(tzinfo=tz)
        reviews = reviews.filter(incident__declared_at__gte=start)
    if filters.get("date_to"):
        end = datetime.fromisoformat(filters["date_to"]).replace(tzinfo=tz)
        reviews = reviews.filter(incident__declared_at__lt=end + timezone.timedelta(days=1))
    if filters.get("severities"):
        reviews = reviews.filter(incident__severity__in=filters["severities"])
    if filters.get("service"):
        reviews = reviews.filter(incident__services=filters["service"])
    return reviews.order_by("incident_id")


def run_export(export_id: int) -> bool:
    """Claim a queued export and write its zip; False if it was already claimed."""
    claimed = ReviewExport.objects.filter(pk=export_id, state=ReviewExport.State.QUEUED).update(
        state=ReviewExport.State.RUNNING
    )
    if not claimed:
        return False
    export = ReviewExport.objects.get(pk=export_id)
    final = exports_dir() / f"reviews-{export.pk}.zip"
    partial = final.with_suffix(".zip.part")
    try:
        ids = list(matching_reviews(export.filters).values_list("pk", flat=True))
        ReviewExport.objects.filter(pk=export.pk).update(total=len(ids), done=0)
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for start in range(0, len(ids), CHUNK):
                chunk = (
                    PostIncidentReview.objects.filter(pk__in=ids[start : start + CHUNK])
                    .select_related("incident", "published_by", "updated_by")
                    .prefetch_related("incident__services")
                    .order_by("incident_id")
                )
                for review in chunk:
                    write_review(archive, review, export.formats)
                ReviewExport.objects.filter(pk=export.pk).update(done=min(start + CHUNK, len(ids)))
        os.replace(partial, final)
    except Exception as exc:
        log.exception("review export %s failed", export_id)
        partial.unlink(missing_ok=True)
        ReviewExport.objects.filter(pk=export.pk).update(
            state=ReviewExport.State.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:1000],
            finished_at=timezone.now(),
        )
        return True
    ReviewExport.objects.filter(pk=export.pk).update(
        state=ReviewExport.State.DONE, filename=final.name, finished_at=timezone.now()
    )
    return True


def write_review(archive: zipfile.ZipFile, review: PostIncidentReview, formats: list[str]):
    doc = review_document(review)
    folder = export_filename(doc, "").rstrip(".")
    if "md" in formats:
        archive.writestr(f"{folder}/review.md", to_markdown(doc))
    if "json" in formats:
        archive.writestr(f"{folder}/review.json", to_json(doc))
    if "pdf" in formats:
        archive.writestr(f"{folder}/review.pdf", to_pdf(doc))


@shared_task(ignore_result=True)
def export_reviews(export_id: int) -> bool:
    return run_export(export_id)
