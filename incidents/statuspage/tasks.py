"""The overdue-update reminder: beat runs `remind_overdue` every 30 seconds."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from incidents.actions import record
from incidents.models import Role, RoleAssignment, Status, TimelineEvent
from incidents.statuspage.models import UpdateCadence

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def remind_overdue(limit: int = 500) -> int:
    """One query finds every open incident whose update is due and not yet reminded; each is
    claimed with a conditional UPDATE, so a reminder goes out once however many run."""
    now = timezone.now()
    due = list(
        UpdateCadence.objects.filter(
            due_at__lte=now, reminded_at__isnull=True, incident__status__in=OPEN_STATUSES
        )
        .order_by("due_at")
        .values_list("incident_id", flat=True)[:limit]
    )
    return sum(remind(incident_id, now) for incident_id in due)


OPEN_STATUSES = [s for s in Status.values if s != Status.RESOLVED]


def remind(incident_id: int, now: datetime | None = None) -> bool:
    """Claim the reminder, write UPDATE_OVERDUE and mail the communicator (else the
    commander). Returns False when someone else claimed it or it is no longer due."""
    now = now or timezone.now()
    with transaction.atomic():
        # Conditions on the cadence row only: a join would make Django UPDATE … WHERE pk IN
        # (SELECT …), which PostgreSQL doesn't recheck after waiting on a concurrent claim.
        # Resolving sets due_at to NULL, so a resolved incident never matches.
        claimed = UpdateCadence.objects.filter(
            pk=incident_id, reminded_at__isnull=True, due_at__lte=now
        ).update(reminded_at=now)
        if not claimed:
            return False
        cadence = UpdateCadence.objects.select_related("incident").get(pk=incident_id)
        incident = cadence.incident
        holders = {
            a.role: a.user
            for a in RoleAssignment.objects.filter(
                incident=incident,
                ended_at__isnull=True,
                role__in=[Role.COMMUNICATOR, Role.COMMANDER],
            ).select_related("user")
        }
        recipient = holders.get(Role.COMMUNICATOR) or holders.get(Role.COMMANDER)
        minutes = max(round((now - cadence.due_at).total_seconds() / 60), 0)
        data = {"due_at": cadence.due_at.isoformat()}
        if recipient is not None:
            data["reminded"] = recipient.get_username()
        record(
            incident,
            TimelineEvent.Kind.UPDATE_OVERDUE,
            None,
            text=(
                "No status update since "
                + (
                    f"the last one at {timezone.localtime(cadence.last_published_at):%H:%M}"
                    if cadence.last_published_at
                    else "the declaration"
                )
                + (f"; due {minutes} min ago" if minutes else "")
            ),
            data=data,
            at=now,
        )
        if recipient is not None and recipient.email:
            address, reference = recipient.email, incident.reference
            title, due = incident.title, cadence.due_at
            transaction.on_commit(lambda: _mail(address, reference, title, due, incident_id))
    return True


def _mail(address: str, reference: str, title: str, due: datetime, incident_id: int) -> None:
    path = reverse("incidents:detail", args=[incident_id])
    try:
        send_mail(
            f"[{reference}] Status update overdue: {title}",
            f"The next stakeholder update for {reference} was due at "
            f"{timezone.localtime(due):%H:%M %Z}.\n\nPublish one from the incident page: "
            f"{path}\n",
            None,
            [address],
        )
    except OSError as exc:  # the timeline already says it is overdue; mail is best effort
        log.warning("overdue reminder for %s not mailed: %s", reference, exc)
