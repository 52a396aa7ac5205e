"""/api/v1/services, /api/v1/escalation/policies and /api/v1/oncall/rotations: the service
list, the escalation ladders (read, replace) and rotations with their overrides.

Each handler does what its page in incidents/escalation/views.py does: the same permission,
the same forms (PolicyForm with LevelFormSet, OverrideForm) fed the page's field names, the
same functions in incidents/escalation/policies.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Prefetch
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, Path, Router, Schema, Status

from console.api_kit import READ, WRITE, ProblemError, form_errors, validated
from incidents.api.incidents import MAX_ID, ObjectId
from incidents.api.schemas import SeverityName, iso_time
from incidents.escalation import policies
from incidents.escalation.forms import MAX_LEVELS, LevelFormSet, OverrideForm, PolicyForm
from incidents.escalation.models import (
    EscalationLevel,
    EscalationPolicy,
    OnCallRotation,
    RotationMember,
    RotationOverride,
)
from incidents.models import Service, Severity
from incidents.permissions import require_perm

services_router = Router(tags=["services"])
policies_router = Router(tags=["escalation"])
rotations_router = Router(tags=["on call"])

RotationId = Annotated[int, Path(ge=1, le=MAX_ID, description="The rotation's id")]
OverrideId = Annotated[int, Path(ge=1, le=MAX_ID, description="The override's id")]


# -- services ------------------------------------------------------------------------------
class ServiceOut(Schema):
    id: int
    name: str
    description: str
    owner_team: str
    public: bool
    public_name: str


@services_router.get("", response={200: list[ServiceOut], **READ}, summary="List services")
def list_services(request: HttpRequest):
    """Every service, by name: the ids incidents and status updates refer to. One query."""
    require_perm(request, "incidents.view_service")
    return [
        {
            "id": s.pk,
            "name": s.name,
            "description": s.description,
            "owner_team": s.owner_team,
            "public": s.public,
            "public_name": s.public_name,
        }
        for s in Service.objects.order_by("name")
    ]


# -- escalation policies -------------------------------------------------------------------
class LevelOut(Schema):
    position: int
    name: str
    delay_minutes: int
    users: list[str] = Field(description="Usernames")
    group: str | None = Field(description="A group's name")
    rotation_id: int | None
    channels: list[str]


class PolicyOut(Schema):
    severity: SeverityName
    ack_minutes: int
    levels: list[LevelOut]
    updated_by: str | None
    updated_at: datetime | None


class LevelIn(Schema):
    name: str = Field(max_length=120, description="Who this level stands for")
    delay_minutes: int = Field(ge=0, le=7 * 24 * 60, description="Minutes after declaring")
    users: list[Annotated[str, Field(max_length=150)]] = Field(
        default=[], max_length=50, description="Usernames"
    )
    group: str | None = Field(default=None, max_length=150, description="A group's name")
    rotation_id: ObjectId | None = None
    channels: list[Annotated[str, Field(max_length=20)]] = Field(default=[], max_length=10)


class PolicyIn(Schema):
    ack_minutes: int = Field(ge=1, le=7 * 24 * 60, description="Acknowledgement target")
    levels: list[LevelIn] = Field(max_length=MAX_LEVELS)


def _policies():
    levels = EscalationLevel.objects.select_related("group").prefetch_related("users")
    return EscalationPolicy.objects.select_related("updated_by").prefetch_related(
        Prefetch("levels", queryset=levels.order_by("position"))
    )


def policy_data(severity: str, policy: EscalationPolicy | None) -> dict:
    if policy is None:
        # What the policy form starts from before anyone saved this severity's ladder.
        return {
            "severity": severity,
            "ack_minutes": 60,
            "levels": [],
            "updated_by": None,
            "updated_at": None,
        }
    return {
        "severity": policy.severity,
        "ack_minutes": policy.ack_minutes,
        "levels": [
            {
                "position": level.position,
                "name": level.name,
                "delay_minutes": level.delay_minutes,
                "users": sorted(u.get_username() for u in level.users.all()),
                "group": level.group.name if level.group_id else None,
                "rotation_id": level.rotation_id,
                "channels": list(level.channels),
            }
            for level in policy.levels.all()
        ],
        "updated_by": policy.updated_by.get_username() if policy.updated_by_id else None,
        "updated_at": iso_time(policy.updated_at),
    }


@policies_router.get(
    "/policies", response={200: list[PolicyOut], **READ}, summary="List escalation policies"
)
def list_policies(request: HttpRequest):
    """One ladder per severity, P0 first, as the escalation page lists them: three queries
    however many levels and people."""
    require_perm(request, "incidents.view_escalationpolicy")
    found = {p.severity: p for p in _policies()}
    return [policy_data(sev.value, found.get(sev.value)) for sev in Severity]


@policies_router.get(
    "/policies/{severity}", response={200: PolicyOut, **READ}, summary="Read a policy"
)
def get_policy(request: HttpRequest, severity: SeverityName):
    require_perm(request, "incidents.view_escalationpolicy")
    return policy_data(severity, _policies().filter(severity=severity).first())


def _pk_or_name(model, field: str, value: str | None):
    """A name as the forms' pickers expect it (a pk); an unknown one is left for the form
    to refuse with its own message."""
    if not value:
        return ""
    pk = model.objects.filter(**{field: value}).values_list("pk", flat=True).first()
    return pk if pk is not None else value


def _level_post_data(levels: list[LevelIn]) -> dict:
    """The API's levels as the policy page's formset posts them."""
    User = get_user_model()
    names = {name for level in levels for name in level.users}
    pks = dict(User.objects.filter(username__in=names).values_list("username", "pk"))
    data: dict = {
        "levels-TOTAL_FORMS": str(len(levels)),
        "levels-INITIAL_FORMS": "0",
        "levels-MIN_NUM_FORMS": "0",
        "levels-MAX_NUM_FORMS": str(MAX_LEVELS),
    }
    for n, level in enumerate(levels):
        prefix = f"levels-{n}-"
        data[prefix + "name"] = level.name
        data[prefix + "delay_minutes"] = str(level.delay_minutes)
        data[prefix + "users"] = [str(pks.get(name, name)) for name in level.users]
        data[prefix + "group"] = str(_pk_or_name(Group, "name", level.group))
        data[prefix + "rotation"] = str(level.rotation_id or "")
        data[prefix + "channels"] = list(level.channels)
    return data


def _formset_levels(formset) -> list[dict]:
    if formset.is_valid():
        levels = formset.levels()
        if len(levels) == formset.total_form_count():
            return levels
        # A level with every field blank: the page drops it, the API says so.
        message = "Every level needs a name and a delay."
        raise ProblemError(422, message, errors=[{"field": "levels", "message": message}])
    errors = [
        {"field": f"levels.{n}.{e['field']}", "message": e["message"]}
        for n, form in enumerate(formset.forms)
        for e in form_errors(form)
    ]
    errors += [{"field": "levels", "message": str(m)} for m in formset.non_form_errors()]
    raise ProblemError(422, " ".join(e["message"] for e in errors), errors=errors)


@policies_router.put(
    "/policies/{severity}", response={200: PolicyOut, **WRITE}, summary="Replace a policy"
)
def update_policy(request: HttpRequest, severity: SeverityName, payload: PolicyIn):
    """Replaces the ladder. Incidents already running keep theirs."""
    require_perm(request, "incidents.change_escalationpolicy")
    data = validated(PolicyForm(data={"ack_minutes": str(payload.ack_minutes)}))
    levels = _formset_levels(LevelFormSet(_level_post_data(payload.levels), prefix="levels"))
    policy, _ = EscalationPolicy.objects.get_or_create(
        severity=severity, defaults={"ack_minutes": data["ack_minutes"]}
    )
    policies.save_policy(policy, ack_minutes=data["ack_minutes"], levels=levels, by=request.user)
    return policy_data(severity, _policies().get(pk=policy.pk))


# -- rotations and overrides ---------------------------------------------------------------
class OverrideOut(Schema):
    id: int
    rotation_id: int
    user: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str


class RotationOut(Schema):
    id: int
    name: str
    period: str
    handoff_time: str
    timezone: str
    starts_on: str
    members: list[str] = Field(description="Usernames in turn order")
    on_call: str | None = Field(description="Now, overrides applied")
    handoff_at: datetime | None
    overrides: list[OverrideOut] = Field(description="Current and upcoming")


class OverrideIn(Schema):
    user: str = Field(max_length=150, description="Username of who covers")
    starts_at: datetime = Field(
        description="With an offset; without one, a wall time in the rotation's time zone"
    )
    ends_at: datetime
    reason: str = Field(default="", max_length=200)


def override_data(override: RotationOverride) -> dict:
    return {
        "id": override.pk,
        "rotation_id": override.rotation_id,
        "user": override.user.get_username(),
        "starts_at": iso_time(override.starts_at),
        "ends_at": iso_time(override.ends_at),
        "reason": override.reason,
        "created_by": override.created_by.get_username(),
    }


def _upcoming(now: datetime):
    return (
        RotationOverride.objects.filter(ends_at__gt=now)
        .select_related("user", "created_by")
        .order_by("starts_at", "id")
    )


@rotations_router.get(
    "/rotations", response={200: list[RotationOut], **READ}, summary="List rotations"
)
def list_rotations(request: HttpRequest):
    """Each rotation with its members in turn order, who is on call now and the current and
    upcoming overrides: three queries however many rotations, members and overrides."""
    require_perm(request, "incidents.view_oncallrotation")
    now = timezone.now()
    rotations = OnCallRotation.objects.order_by("name", "id").prefetch_related(
        Prefetch(
            "members", queryset=RotationMember.objects.select_related("user").order_by("position")
        ),
        Prefetch("overrides", queryset=_upcoming(now)),
    )
    answer = []
    for rotation in rotations:
        members = [m.user for m in rotation.members.all()]
        overrides = list(rotation.overrides.all())
        _, _, end = rotation.shift_at(now)
        person = rotation.on_call_at(now, members, overrides)
        answer.append(
            {
                "id": rotation.pk,
                "name": rotation.name,
                "period": rotation.period,
                "handoff_time": rotation.handoff_time.strftime("%H:%M"),
                "timezone": rotation.timezone,
                "starts_on": rotation.starts_on.isoformat(),
                "members": [u.get_username() for u in members],
                "on_call": person.get_username() if person is not None else None,
                "handoff_at": iso_time(end),
                "overrides": [override_data(o) for o in overrides],
            }
        )
    return answer


@rotations_router.get(
    "/rotations/{rotation_id}/overrides",
    response={200: list[OverrideOut], **READ},
    summary="A rotation's current and upcoming overrides",
)
def list_overrides(request: HttpRequest, rotation_id: RotationId):
    require_perm(request, "incidents.view_oncallrotation")
    rotation = get_object_or_404(OnCallRotation, pk=rotation_id)
    return [override_data(o) for o in _upcoming(timezone.now()).filter(rotation=rotation)]


def _wall_time(value: datetime, zone: str) -> str:
    """As the page's datetime-local input sends it: a wall time in the rotation's zone."""
    if value.tzinfo is not None:
        value = value.astimezone(ZoneInfo(zone))
    return value.replace(tzinfo=None).isoformat(timespec="seconds")


@rotations_router.post(
    "/rotations/{rotation_id}/overrides",
    response={201: OverrideOut, **WRITE},
    summary="Add an override",
)
def add_override(request: HttpRequest, rotation_id: RotationId, payload: OverrideIn):
    require_perm(request, "incidents.change_oncallrotation")
    rotation = get_object_or_404(OnCallRotation, pk=rotation_id)
    user_pk = _pk_or_name(get_user_model(), "username", payload.user)
    form = OverrideForm(
        data={
            "user": str(user_pk),
            "starts_at": _wall_time(payload.starts_at, rotation.timezone),
            "ends_at": _wall_time(payload.ends_at, rotation.timezone),
            "reason": payload.reason,
        },
        rotation=rotation,
    )
    data = validated(form)
    override = policies.add_override(
        rotation,
        user=data["user"],
        starts_at=data["starts_at"],
        ends_at=data["ends_at"],
        reason=data["reason"],
        by=request.user,
    )
    override = RotationOverride.objects.select_related("user", "created_by").get(pk=override.pk)
    return Status(201, override_data(override))


@rotations_router.delete(
    "/rotations/{rotation_id}/overrides/{override_id}",
    response={204: None, **WRITE},
    summary="Remove an override",
)
def delete_override(request: HttpRequest, rotation_id: RotationId, override_id: OverrideId):
    require_perm(request, "incidents.change_oncallrotation")
    override = get_object_or_404(RotationOverride, pk=override_id, rotation_id=rotation_id)
    override.delete()
    return Status(204, None)
