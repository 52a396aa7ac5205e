"""Changes to a review, each with its timeline event (when it has one) in one transaction."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from incidents.actions import ActionError, record, system_user
from incidents.models import Incident, Severity, TimelineEvent
from incidents.reviews.drafting import checklist_items
from incidents.reviews.models import (
    REQUIRED_SEVERITIES,
    REVIEW_DUE_AFTER,
    TEXT_SECTIONS,
    ActionItem,
    PostIncidentReview,
    ReviewChecklistItem,
    ReviewRevision,
    ReviewTimelineEntry,
)

Kind = TimelineEvent.Kind
State = PostIncidentReview.State
EDITABLE_FIELDS = [name for name, _ in TEXT_SECTIONS] + [
    "impact_started_at",
    "users_affected",
    "customer_facing",
]


def open_review(incident: Incident, resolved_at: datetime) -> PostIncidentReview | None:
    """The incident's review, opened at its first resolution; None if it already has one
    (a reopened incident resolving again keeps its review). Runs inside the resolve's
    transaction, under its row lock."""
    if PostIncidentReview.objects.filter(incident=incident).exists():
        return None
    required = Severity(incident.severity) in REQUIRED_SEVERITIES
    review = PostIncidentReview.objects.create(
        incident=incident,
        required=required,
        opened_at=resolved_at,
        due_at=resolved_at + REVIEW_DUE_AFTER if required else None,
        summary=incident.summary,
        customer_facing=bool(incident.customer_impact.strip()),
    )
    ReviewChecklistItem.objects.bulk_create(
        ReviewChecklistItem(review=review, position=i, text=text)
        for i, text in enumerate(checklist_items())
    )
    due = f", due {review.due_at:%Y-%m-%d %H:%M} UTC" if review.due_at else " (optional)"
    record(
        incident,
        Kind.REVIEW_OPENED,
        system_user(),
        text=f"Post-incident review opened{due}",
        data={"review_id": review.pk, "required": required},
        at=resolved_at,
    )
    return review


def _locked(review: PostIncidentReview) -> PostIncidentReview:
    return PostIncidentReview.objects.select_for_update().get(pk=review.pk)


def _editable(review: PostIncidentReview) -> PostIncidentReview:
    current = _locked(review)
    if current.state == State.PUBLISHED:
        raise ActionError(
            f"Revision {current.revision} is published and read-only; start a new revision "
            "to change it."
        )
    return current


def save_review(
    review: PostIncidentReview,
    *,
    by: AbstractBaseUser,
    fields: dict,
    entries: dict[int, tuple[bool, str]] | None = None,
    ticked: set[int] | None = None,
) -> PostIncidentReview:
    """Write the sections, the timeline choices ({event id: (shown, annotation)}) and the
    checklist (ids of ticked items; a newly ticked item records who and when)."""
    now = timezone.now()
    with transaction.atomic():
        current = _editable(review)
        for name in EDITABLE_FIELDS:
            if name in fields:
                setattr(current, name, fields[name])
        current.updated_at = now
        current.updated_by = by
        current.save()
        if entries is not None:
            valid = set(
                TimelineEvent.objects.filter(
                    incident_id=current.incident_id, pk__in=list(entries)
                ).values_list("pk", flat=True)
            )
            existing = {e.event_id: e for e in current.entries.filter(event_id__in=valid)}
            for event_id in valid:
                shown, annotation = entries[event_id]
                entry = existing.get(event_id)
                if entry is None:
                    ReviewTimelineEntry.objects.create(
                        review=current, event_id=event_id, shown=shown, annotation=annotation
                    )
                elif (entry.shown, entry.annotation) != (shown, annotation):
                    entry.shown, entry.annotation = shown, annotation
                    entry.save(update_fields=["shown", "annotation"])
        if ticked is not None:
            for item in current.checklist.all():
                if item.pk in ticked and item.done_at is None:
                    item.done_at, item.done_by = now, by
                    item.save(update_fields=["done_at", "done_by"])
                elif item.pk not in ticked and item.done_at is not None:
                    item.done_at, item.done_by = None, None
                    item.save(update_fields=["done_at", "done_by"])
    review.refresh_from_db()
    return review


def submit_for_review(review: PostIncidentReview, *, by: AbstractBaseUser) -> None:
    _move(review, State.IN_REVIEW, "The review is already in review.")


def back_to_draft(review: PostIncidentReview, *, by: AbstractBaseUser) -> None:
    _move(review, State.DRAFT, "The review is already a draft.")


def _move(review: PostIncidentReview, state: str, already: str) -> None:
    with transaction.atomic():
        current = _editable(review)
        if current.state == state:
            raise ActionError(already)
        current.state = state
        current.save(update_fields=["state"])
    review.refresh_from_db()


def publish(review: PostIncidentReview, *, by: AbstractBaseUser) -> ReviewRevision:
    """Freeze the review as revision N (its JSON export), and say so on the timeline."""
    from incidents.reviews.export import review_document

    now = timezone.now()
    with transaction.atomic():
        current = _editable(review)
        if not current.root_cause.strip():
            raise ActionError("Write the root cause before publishing.")
        current.state = State.PUBLISHED
        current.published_at = now
        current.published_by = by
        current.save(update_fields=["state", "published_at", "published_by"])
        revision = ReviewRevision.objects.create(
            review=current,
            number=current.revision,
            content=review_document(current),
            published_at=now,
            published_by=by,
        )
        record(
            current.incident,
            Kind.REVIEW_PUBLISHED,
            by,
            text=f"Post-incident review revision {current.revision} published",
            data={"review_id": current.pk, "revision": current.revision},
            at=now,
        )
    review.refresh_from_db()
    return revision


def start_revision(review: PostIncidentReview, *, by: AbstractBaseUser) -> None:
    """A published review changes only through a new revision; the published ones stay."""
    with transaction.atomic():
        current = _locked(review)
        if current.state != State.PUBLISHED:
            raise ActionError(f"Revision {current.revision} is still being edited.")
        current.state = State.DRAFT
        current.revision += 1
        current.save(update_fields=["state", "revision"])
    review.refresh_from_db()


def add_action_item(
    review: PostIncidentReview,
    *,
    by: AbstractBaseUser,
    title: str,
    owner=None,
    due_date=None,
    link: str = "",
) -> ActionItem:
    title = title.strip()
    if not title:
        raise ActionError("An action item needs a title.")
    with transaction.atomic():
        current = _editable(review)
        return ActionItem.objects.create(
            review=current, title=title, owner=owner, due_date=due_date, link=link
        )


def set_action_item_status(item: ActionItem, *, status: str, by: AbstractBaseUser) -> ActionItem:
    """Follow-up work outlives the review: its status can change after publication."""
    status = ActionItem.Status(status)
    with transaction.atomic():
        current = ActionItem.objects.select_for_update().get(pk=item.pk)
        if current.status == status:
            raise ActionError(f"The action item is already {status.label.lower()}.")
        current.status = status
        current.save(update_fields=["status"])
    return current
