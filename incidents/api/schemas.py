"""Representations of incidents and timeline events: the API's answers and the payloads of
outgoing webhooks are built by the same functions, so they can't drift apart."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Prefetch, prefetch_related_objects
from ninja import Schema
from pydantic import Field

from incidents.models import Incident, RoleAssignment, TimelineEvent

SeverityName = Literal["P0", "P1", "P2", "P3"]
StatusName = Literal["investigating", "identified", "monitoring", "resolved"]
RoleName = Literal["commander", "investigator", "communicator", "scribe"]


class ServiceRef(Schema):
    id: int
    name: str


class RoleHolder(Schema):
    role: RoleName
    user: str = Field(description="The holder's username")
    since: datetime


class IncidentOut(Schema):
    id: int
    reference: str = Field(examples=["INC-0042"])
    title: str
    summary: str
    customer_impact: str
    severity: SeverityName
    status: StatusName
    services: list[ServiceRef]
    roles: list[RoleHolder]
    declared_by: str
    declared_at: datetime
    ack_due_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    url: str = Field(description="The incident's page in the console")


class IncidentPage(Schema):
    items: list[IncidentOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class EventOut(Schema):
    id: int
    incident_id: int
    kind: str = Field(description="The timeline event's kind, such as note_added or resolved")
    at: datetime
    actor: str | None = Field(description="Username; null for the console itself")
    text: str
    data: dict[str, Any]


class EventPage(Schema):
    items: list[EventOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


def current_roles_prefetch() -> Prefetch:
    return Prefetch(
        "role_assignments",
        queryset=RoleAssignment.objects.filter(ended_at__isnull=True).select_related("user"),
        to_attr="current_roles",
    )


def incidents_for_api():
    """Incidents with what their representation needs: three queries for any number."""
    return Incident.objects.select_related("declared_by", "acknowledged_by").prefetch_related(
        "services", current_roles_prefetch()
    )


def load_for_representation(incident: Incident) -> Incident:
    """Fetch services and current roles of one incident already in hand (two queries)."""
    for cached in ("current_roles",):
        incident.__dict__.pop(cached, None)
    prefetch_related_objects([incident], "services", current_roles_prefetch())
    return incident


def _username(user) -> str | None:
    return user.get_username() if user is not None else None


def incident_data(incident: Incident) -> dict:
    """The JSON representation; `incident` comes from incidents_for_api() or
    load_for_representation()."""
    from django.conf import settings

    return {
        "id": incident.pk,
        "reference": incident.reference,
        "title": incident.title,
        "summary": incident.summary,
        "customer_impact": incident.customer_impact,
        "severity": incident.severity,
        "status": incident.status,
        "services": [{"id": s.pk, "name": s.name} for s in incident.services.all()],
        "roles": [
            {"role": a.role, "user": a.user.get_username(), "since": iso_time(a.started_at)}
            for a in sorted(incident.current_roles, key=lambda a: a.role)
        ],
        "declared_by": incident.declared_by.get_username(),
        "declared_at": iso_time(incident.declared_at),
        "ack_due_at": iso_time(incident.ack_due_at),
        "acknowledged_by": _username(incident.acknowledged_by),
        "acknowledged_at": iso_time(incident.acknowledged_at),
        "mitigated_at": iso_time(incident.mitigated_at),
        "resolved_at": iso_time(incident.resolved_at),
        "url": settings.CONSOLE_BASE_URL.rstrip("/") + incident.get_absolute_url(),
    }


def event_data(event: TimelineEvent) -> dict:
    return {
        "id": event.pk,
        "incident_id": event.incident_id,
        "kind": event.kind,
        "at": iso_time(event.at),
        "actor": _username(event.actor),
        "text": event.text,
        "data": event.data,
    }


_encoder = DjangoJSONEncoder()


def iso_time(value: datetime | None) -> str | None:
    """As the API's JSON renderer writes times (ECMA-262: milliseconds, Z for UTC), so a
    stored answer (Idempotency-Key replays, webhook payloads) reads exactly like a live one."""
    return _encoder.default(value) if value else None
