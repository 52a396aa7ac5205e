"""/api/v1/incidents: list, declare, read, and every change the incident page offers.

Each handler reads like its view in incidents/views/: the access helper first, the same
form for validation (so the messages are the page's), then the action function.
"""

from __future__ import annotations

from typing import Annotated, Literal

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from ninja import Field, Header, Path, Query, Router, Schema

from console.api_kit import READ, WRITE, decode_cursor, idempotent, page_of, rendered
from console.api_kit import validated as valid
from incidents import actions
from incidents.api.schemas import (
    IncidentOut,
    IncidentPage,
    RoleName,
    SeverityName,
    StatusName,
    incident_data,
    incidents_for_api,
    load_for_representation,
)
from incidents.forms import (
    AcknowledgeForm,
    DeclareForm,
    RoleForm,
    SeverityForm,
    StatusForm,
)
from incidents.models import Incident, Status
from incidents.permissions import (
    get_incident_for_user,
    require_acknowledge_as,
    require_perm,
    require_status_change,
)
from incidents.tasks import schedule_ack_check

router = Router(tags=["incidents"])

# Ids are 64-bit; anything larger can't name a row (and must not reach the database driver).
MAX_ID = 2**63 - 1
IncidentId = Annotated[int, Path(ge=1, le=MAX_ID, description="The incident's id")]
ObjectId = Annotated[int, Field(ge=1, le=MAX_ID)]


class DeclareIn(Schema):
    title: str = Field(max_length=200, description="At least 5 characters")
    severity: SeverityName
    services: list[ObjectId] = Field(default=[], max_length=100, description="Service ids")
    summary: str = Field(default="", max_length=10_000)
    customer_impact: str = Field(default="", max_length=10_000)


class AcknowledgeIn(Schema):
    on_behalf_of: str | None = Field(
        default=None, max_length=150, description="Username; leads only, for someone else"
    )


class StatusIn(Schema):
    status: StatusName
    note: str = Field(default="", max_length=2000)


class ResolveIn(Schema):
    note: str = Field(default="", max_length=2000)


class ReopenIn(Schema):
    status: Literal["investigating", "identified", "monitoring"] = "investigating"
    note: str = Field(default="", max_length=2000)


class SeverityIn(Schema):
    severity: SeverityName
    reason: str = Field(default="", max_length=2000)


class RoleIn(Schema):
    role: RoleName
    user: str | None = Field(max_length=150, description="Username, or null to unassign")


def _user_pk(username: str | None):
    """A username as the forms' person pickers expect it (their choice is a pk)."""
    if not username:
        return None
    pk = get_user_model().objects.filter(username=username).values_list("pk", flat=True).first()
    # An unknown name stays as it is: the form answers it with its own "not a valid choice".
    return pk if pk is not None else username


def _answer(incident: Incident) -> dict:
    return incident_data(load_for_representation(incident))


@router.get("", response={200: IncidentPage, **READ}, summary="List incidents")
def list_incidents(
    request: HttpRequest,
    state: Literal["open", "resolved", "all"] = "open",
    severity: SeverityName | None = None,
    service: Annotated[int | None, Query(ge=1, le=MAX_ID, description="A service id")] = None,
    mine: Annotated[bool, Query(description="Only incidents I declared or hold a role in")] = False,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
):
    """Newest first (by id), `limit` at a time; follow `next_cursor` for more."""
    require_perm(request, "incidents.view_incident")
    incidents = incidents_for_api().order_by("-id")
    if state == "open":
        incidents = incidents.open()
    elif state == "resolved":
        incidents = incidents.filter(status=Status.RESOLVED)
    if severity:
        incidents = incidents.filter(severity=severity)
    if service:
        incidents = incidents.filter(services=service)
    if mine:
        incidents = incidents.involving(request.user)
    after = decode_cursor(cursor)
    if after is not None:
        incidents = incidents.filter(id__lt=after)
    items, next_cursor = page_of(list(incidents[: limit + 1]), limit)
    return rendered(
        request, {"items": [incident_data(i) for i in items], "next_cursor": next_cursor}
    )


@router.post(
    "",
    response={201: IncidentOut, **{k: v for k, v in WRITE.items() if k != 404}},
    summary="Declare an incident",
)
def declare_incident(
    request: HttpRequest,
    payload: DeclareIn,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", max_length=255, description="Retry-safe creation"),
    ] = None,
):
    require_perm(request, "incidents.declare_incident")

    def create() -> tuple[int, dict]:
        data = valid(DeclareForm(data=payload.dict()))
        incident = actions.declare_incident(
            title=data["title"],
            severity=data["severity"],
            summary=data["summary"],
            customer_impact=data["customer_impact"],
            services=data["services"],
            declared_by=request.user,
        )
        created.append(incident)
        return 201, _answer(incident)

    created: list[Incident] = []
    answer = idempotent(request, idempotency_key, create)
    for incident in created:
        # As the declare page does; with the broker down the beat sweep covers the timer.
        schedule_ack_check(incident)
    return answer


@router.get("/{incident_id}", response={200: IncidentOut, **READ}, summary="Get an incident")
def get_incident(request: HttpRequest, incident_id: IncidentId):
    return _answer(get_incident_for_user(request, incident_id))


@router.post(
    "/{incident_id}/acknowledge", response={200: IncidentOut, **WRITE}, summary="Acknowledge"
)
def acknowledge(request: HttpRequest, incident_id: IncidentId, payload: AcknowledgeIn):
    incident = get_incident_for_user(request, incident_id, "incidents.declare_incident")
    data = valid(AcknowledgeForm(data={"on_behalf_of": _user_pk(payload.on_behalf_of)}))
    require_acknowledge_as(request, data["on_behalf_of"])
    actions.acknowledge(incident, by=request.user, on_behalf_of=data["on_behalf_of"])
    return _answer(incident)


def _move(request: HttpRequest, incident_id: int, to: str, note: str) -> dict:
    incident = get_incident_for_user(request, incident_id)
    data = valid(StatusForm(data={"status": to, "note": note}))
    require_status_change(request, incident, data["status"])
    actions.change_status(incident, to=data["status"], by=request.user, note=data["note"])
    return _answer(incident)


@router.post("/{incident_id}/status", response={200: IncidentOut, **WRITE}, summary="Change status")
def change_status(request: HttpRequest, incident_id: IncidentId, payload: StatusIn):
    """Resolving or reopening this way needs the lead's permission, as on the page."""
    return _move(request, incident_id, payload.status, payload.note)


@router.post("/{incident_id}/resolve", response={200: IncidentOut, **WRITE}, summary="Resolve")
def resolve(request: HttpRequest, incident_id: IncidentId, payload: ResolveIn):
    return _move(request, incident_id, Status.RESOLVED, payload.note)


@router.post("/{incident_id}/reopen", response={200: IncidentOut, **WRITE}, summary="Reopen")
def reopen(request: HttpRequest, incident_id: IncidentId, payload: ReopenIn):
    incident = get_incident_for_user(request, incident_id)
    if incident.status != Status.RESOLVED:
        require_status_change(request, incident, Status.RESOLVED)
        raise actions.ActionError("The incident is not resolved; there is nothing to reopen.")
    return _move(request, incident_id, payload.status, payload.note)


@router.post(
    "/{incident_id}/severity", response={200: IncidentOut, **WRITE}, summary="Change severity"
)
def change_severity(request: HttpRequest, incident_id: IncidentId, payload: SeverityIn):
    incident = get_incident_for_user(request, incident_id, "incidents.change_severity")
    data = valid(SeverityForm(data=payload.dict()))
    actions.change_severity(incident, to=data["severity"], by=request.user, reason=data["reason"])
    return _answer(incident)


@router.post("/{incident_id}/roles", response={200: IncidentOut, **WRITE}, summary="Assign a role")
def assign_role(request: HttpRequest, incident_id: IncidentId, payload: RoleIn):
    """`user: null` ends the role's current holding."""
    incident = get_incident_for_user(request, incident_id, "incidents.assign_roles")
    data = valid(RoleForm(data={"role": payload.role, "user": _user_pk(payload.user)}))
    if data["user"] is None:
        actions.unassign_role(incident, role=data["role"], by=request.user)
    else:
        actions.assign_role(incident, role=data["role"], user=data["user"], by=request.user)
    return _answer(incident)
