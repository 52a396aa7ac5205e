"""Publishing a status update, and the update cadence that follows incident changes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from incidents.actions import ActionError, record
from incidents.models import Incident, Role, RoleAssignment, Service, Status, TimelineEvent
from incidents.statuspage.models import CommsTemplate, StatusUpdate, UpdateCadence, cadence_for

Kind = TimelineEvent.Kind


def may_publish(user: AbstractBaseUser, incident: Incident, communicator_id=None) -> bool:
    """The incident's current communicator, or anyone allowed to publish for any incident."""
    if not user.is_authenticated or not user.has_perm("incidents.view_incident"):
        return False
    if user.has_perm("incidents.publish_status_update"):
        return True
    if communicator_id is None:
        communicator_id = current_communicator_id(incident)
    return communicator_id == user.pk


def current_communicator_id(incident: Incident) -> int | None:
    return (
        RoleAssignment.objects.filter(
            incident=incident, role=Role.COMMUNICATOR, ended_at__isnull=True
        )
        .values_list("user_id", flat=True)
        .first()
    )


def publish_update(
    incident: Incident,
    *,
    title: str,
    status: str,
    body: str,
    components: Iterable[Service] = (),
    by: AbstractBaseUser,
    template: CommsTemplate | None = None,
    at: datetime | None = None,
) -> StatusUpdate:
    """Write the update, its timeline event and the next due time in one transaction."""
    at = at or timezone.now()
    status = Status(status)
    title, body = title.strip(), body.strip()
    if not title or not body:
        raise ActionError("A status update needs a public title and a message.")
    with transaction.atomic():
        current = Incident.objects.select_for_update().get(pk=incident.pk)
        update = StatusUpdate.objects.create(
            incident=current,
            title=title,
            status=status,
            body=body,
            template=template,
            published_by=by,
            published_at=at,
        )
        components = list(components)
        update.components.set(components)
        due = at + cadence_for(current.severity) if current.is_open else None
        UpdateCadence.objects.update_or_create(
            incident=current,
            defaults={"due_at": due, "reminded_at": None, "last_published_at": at},
        )
        record(
            current,
            Kind.UPDATE_PUBLISHED,
            by,
            text=body,
            data={
                "update_id": update.pk,
                "title": title,
                "status": status.value,
                "components": [c.display_name for c in components],
                "next_due_at": due.isoformat() if due else None,
            },
            at=at,
        )
    return update


def on_incident_event(sender, event: TimelineEvent, **kwargs) -> None:
    """Keep the cadence in step with the incident (inside the event's transaction)."""
    incident = event.incident
    if event.kind in (Kind.DECLARED, Kind.REOPENED):
        UpdateCadence.objects.update_or_create(
            incident=incident,
            defaults={"due_at": event.at + cadence_for(incident.severity), "reminded_at": None},
        )
    elif event.kind == Kind.RESOLVED:
        UpdateCadence.objects.filter(incident=incident).update(due_at=None)
    elif event.kind == Kind.SEVERITY_CHANGED:
        # The new severity's cadence counts from the last update (or the declaration).
        cadence = UpdateCadence.objects.filter(incident=incident, due_at__isnull=False).first()
        if cadence is not None:
            since = cadence.last_published_at or incident.declared_at
            due = since + cadence_for(incident.severity)
            UpdateCadence.objects.filter(pk=cadence.pk).update(
                due_at=due, reminded_at=None if due > event.at else cadence.reminded_at
            )
