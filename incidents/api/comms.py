"""/api/v1/incidents/{id}/status-updates (publish, list), and who is on call now."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from django.db.models import Prefetch
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Header, Router, Schema

from console.api_kit import READ, WRITE, idempotent, validated
from incidents.api.incidents import IncidentId, ObjectId
from incidents.api.schemas import StatusName, iso_time
from incidents.escalation.models import OnCallRotation, RotationMember, RotationOverride
from incidents.models import Service
from incidents.permissions import get_incident_for_user, require_perm
from incidents.statuspage import actions as comms
from incidents.statuspage.forms import BODY_MAX, StatusUpdateForm
from incidents.statuspage.models import StatusUpdate
from incidents.statuspage.views import _require_publisher as require_publisher

router = Router(tags=["status updates"])
oncall_router = Router(tags=["on call"])


class StatusUpdateIn(Schema):
    title: str = Field(max_length=200, description="The incident's public title")
    status: StatusName
    body: str = Field(max_length=BODY_MAX)
    components: list[ObjectId] = Field(default=[], max_length=100, description="Service ids")
    allow_placeholders: bool = Field(
        default=False, description="Publish even with [bracketed] template placeholders left"
    )


class ComponentRef(Schema):
    id: int
    name: str


class StatusUpdateOut(Schema):
    id: int
    incident_id: int
    title: str
    status: StatusName
    body: str
    components: list[ComponentRef]
    published_by: str
    published_at: datetime


def update_data(update: StatusUpdate) -> dict:
    return {
        "id": update.pk,
        "incident_id": update.incident_id,
        "title": update.title,
        "status": update.status,
        "body": update.body,
        "components": [{"id": s.pk, "name": s.display_name} for s in update.components.all()],
        "published_by": update.published_by.get_username(),
        "published_at": iso_time(update.published_at),
    }


@router.get(
    "/{incident_id}/status-updates",
    response={200: list[StatusUpdateOut], **READ},
    summary="Published status updates",
)
def status_updates(request: HttpRequest, incident_id: IncidentId):
    incident = get_incident_for_user(request, incident_id)
    updates = (
        StatusUpdate.objects.filter(incident=incident)
        .select_related("published_by")
        .prefetch_related("components")
        .order_by("published_at", "id")
    )
    return [update_data(u) for u in updates]


@router.post(
    "/{incident_id}/status-updates",
    response={201: StatusUpdateOut, **WRITE},
    summary="Publish a status update",
)
def publish_status_update(
    request: HttpRequest,
    incident_id: IncidentId,
    payload: StatusUpdateIn,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", max_length=255, description="Retry-safe creation"),
    ] = None,
):
    """The incident's communicator, or a lead; goes to the public status page at once."""
    incident = get_incident_for_user(request, incident_id)
    require_publisher(request, incident)

    def create() -> tuple[int, dict]:
        public = list(Service.objects.filter(public=True).order_by("position", "name"))
        data = validated(StatusUpdateForm(data=payload.dict(), components=public))
        update = comms.publish_update(
            incident,
            title=data["title"],
            status=data["status"],
            body=data["body"],
            components=data["components"],
            by=request.user,
        )
        return 201, update_data(update)

    return idempotent(request, idempotency_key, create)


class OnCallOut(Schema):
    rotation_id: int
    rotation: str
    on_call: str | None = Field(description="Username, null when the rotation has nobody")
    shift_started_at: datetime | None
    handoff_at: datetime | None


@oncall_router.get("", response={200: list[OnCallOut], **READ}, summary="Who is on call now")
def on_call_now(request: HttpRequest):
    """Each rotation's person on call now (overrides applied), as the On call page shows."""
    require_perm(request, "incidents.view_oncallrotation")
    now = timezone.now()
    rotations = OnCallRotation.objects.prefetch_related(
        Prefetch(
            "members", queryset=RotationMember.objects.select_related("user").order_by("position")
        ),
        Prefetch(
            "overrides",
            queryset=RotationOverride.objects.filter(ends_at__gt=now).select_related("user"),
        ),
    )
    answer = []
    for rotation in rotations:
        members = [m.user for m in rotation.members.all()]
        _, start, end = rotation.shift_at(now)
        person = rotation.on_call_at(now, members, list(rotation.overrides.all()))
        answer.append(
            {
                "rotation_id": rotation.pk,
                "rotation": rotation.name,
                "on_call": person.get_username() if person is not None else None,
                "shift_started_at": iso_time(start),
                "handoff_at": iso_time(end),
            }
        )
    return answer
