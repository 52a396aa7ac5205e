"""The final public update that goes out with the resolve.

When an incident has published updates, the Status panel offers the last one, prefilled
from a comms template named "…resolved…" (the one meant for the incident's severity first),
or from a built-in message, and resolving publishes it in the same transaction, as Statuspage
and incident.io do. Otherwise the public page would keep "Identified — next update in 15
minutes" after the incident is over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Case, IntegerField, Value, When

from incidents import actions
from incidents.models import Incident, Service, Status
from incidents.statuspage.actions import publish_update
from incidents.statuspage.models import CommsTemplate, StatusUpdate
from incidents.statuspage.render import _clock, fill, incident_fields, placeholders

BUILT_IN = (
    "This incident has been resolved. [service] is working normally again since [end time]. "
    "Thank you for your patience; we will follow up once we have finished our review."
)


@dataclass
class FinalUpdate:
    title: str
    body: str
    template: CommsTemplate | None
    components: list[Service] = field(default_factory=list)


def resolved_template(severity: str) -> CommsTemplate | None:
    return (
        CommsTemplate.objects.filter(name__icontains="resolved")
        .annotate(
            fit=Case(
                When(severity=severity, then=Value(0)),
                When(severity="", then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            )
        )
        .order_by("fit", "name", "id")
        .first()
    )


def draft(incident: Incident, latest: StatusUpdate, services: list[Service], now: datetime):
    """The final update as offered: the last update's title, a resolved message. Two queries
    (the template, the last update's components)."""
    template = resolved_template(incident.severity)
    fields = incident_fields(incident, services=services)
    fields["ended"] = _clock(now)
    fields["status"] = Status.RESOLVED.label
    body, _left = fill(template.body if template else BUILT_IN, fields)
    return FinalUpdate(
        title=latest.title, body=body, template=template, components=list(latest.components.all())
    )


def resolve_with_final_update(
    incident: Incident,
    *,
    by: AbstractBaseUser,
    note: str,
    title: str,
    body: str,
    template: CommsTemplate | None = None,
) -> StatusUpdate:
    """Resolve and publish the final update in one transaction: both or neither."""
    left = placeholders(body)
    if left:
        raise actions.ActionError(
            "Fill the placeholders left in the final update: " + ", ".join(left)
        )
    latest = StatusUpdate.objects.filter(incident=incident).order_by("-published_at", "-id").first()
    components = list(latest.components.all()) if latest else []
    with transaction.atomic():
        actions.change_status(incident, to=Status.RESOLVED, by=by, note=note)
        return publish_update(
            incident,
            title=title,
            status=Status.RESOLVED,
            body=body,
            components=components,
            by=by,
            template=template,
        )
