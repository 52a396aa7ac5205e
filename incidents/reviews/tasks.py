"""Bulk export of reviews to a zip under VAR_DIR, with progress on its ReviewExport row."""

from __future__ import annotations

import logging
import os
import zipfile
from datetime import datetime
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from console.queue import enqueue
from incidents.reviews.export import export_filename, review_document, to_json, to_markdown, to_pdf
from incidents.reviews.models import PostIncidentReview, ReviewExport

log = logging.getLogger(__name__)
CHUNK = 50
# Without a broker an export this small runs in the request; a larger one waits for a worker.
INLINE_LIMIT = 20
# Claims an export gets before the sweep gives up on it (each one a worker that died on it).
MAX_ATTEMPTS = 3
GAVE_UP = (
    "The export stopped making progress {n} times (its worker died each time), so it was not "
    "started again. Narrow the range or the formats and start a new export."
)


class LostClaim(Exception):
    """The export was taken back from this worker (stalled, re-queued): stop writing."""


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
    """Claim a queued export and write its zip; False if it was already claimed.

    The claim and every chunk write a heartbeat; a worker whose claim was taken back (its
    heartbeat went stale and the sweep re-queued the export) stops at its next chunk."""
    claimed = ReviewExport.objects.filter(pk=export_id, state=ReviewExport.State.QUEUED).update(
        state=ReviewExport.State.RUNNING,
        heartbeat_at=timezone.now(),
        attempts=F("attempts") + 1,
        done=0,
    )
    if not claimed:
        return False
    export = ReviewExport.objects.get(pk=export_id)
    mine = ReviewExport.objects.filter(
        pk=export.pk, state=ReviewExport.State.RUNNING, attempts=export.attempts
    )
    final = exports_dir() / f"reviews-{export.pk}.zip"
    partial = final.with_suffix(f".{export.attempts}.part")
    try:
        ids = list(matching_reviews(export.filters).values_list("pk", flat=True))
        if not mine.update(total=len(ids), heartbeat_at=timezone.now()):
            raise LostClaim
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
                progress = mine.update(
                    done=min(start + CHUNK, len(ids)), heartbeat_at=timezone.now()
                )
                if not progress:
                    raise LostClaim
        os.replace(partial, final)
    except LostClaim:
        log.warning("review export %s: claim %s was taken back", export_id, export.attempts)
        partial.unlink(missing_ok=True)
        return True
    except Exception as exc:
        log.exception("review export %s failed", export_id)
        partial.unlink(missing_ok=True)
        mine.update(
            state=ReviewExport.State.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:1000],
            finished_at=timezone.now(),
        )
        return True
    mine.update(state=ReviewExport.State.DONE, filename=final.name, finished_at=timezone.now())
    return True


def requeue(export_id: int) -> bool:
    """Put a failed or stalled export back in the queue (someone pressed "Start again"). A
    conditional UPDATE: of two presses (or a press and the sweep) exactly one wins."""
    stale = timezone.now() - ReviewExport.STALL_AFTER
    return bool(
        ReviewExport.objects.filter(pk=export_id)
        .filter(
            Q(state=ReviewExport.State.FAILED)
            | Q(state=ReviewExport.State.RUNNING, heartbeat_at__lt=stale)
        )
        .update(
            state=ReviewExport.State.QUEUED,
            done=0,
            error="",
            inline=False,
            heartbeat_at=None,
            finished_at=None,
        )
    )


def sweep_stalled(limit: int = 50) -> list[int]:
    """Running exports with no progress for STALL_AFTER: re-queued (each by exactly one
    sweep: the UPDATE is conditional on the claim it saw), or failed after MAX_ATTEMPTS.
    A slow export that still writes its heartbeat is left alone. The ids re-queued."""
    now = timezone.now()
    stale = now - ReviewExport.STALL_AFTER
    requeued = []
    stalled = ReviewExport.objects.filter(
        state=ReviewExport.State.RUNNING, heartbeat_at__lt=stale
    ).values_list("pk", "attempts")[:limit]
    for pk, attempts in list(stalled):
        same_claim = ReviewExport.objects.filter(
            pk=pk, state=ReviewExport.State.RUNNING, attempts=attempts, heartbeat_at__lt=stale
        )
        if attempts >= MAX_ATTEMPTS:
            same_claim.update(
                state=ReviewExport.State.FAILED,
                error=GAVE_UP.format(n=attempts),
                finished_at=now,
            )
            continue
        if same_claim.update(state=ReviewExport.State.QUEUED, done=0, heartbeat_at=None):
            log.warning("review export %s stalled on claim %s: re-queued", pk, attempts)
            requeued.append(pk)
            enqueue(export_reviews, pk)
    return requeued


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


@shared_task(ignore_result=True)
def sweep_stalled_exports() -> int:
    return len(sweep_stalled())
