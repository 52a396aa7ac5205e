"""/api/v1/routing-rules: the ordered rules that decide an alert's severity, service and
runbook scenario (or drop it), for leads: list, create (added last), read, replace, move,
delete.

The handlers call the rules page's access helper (get_rule_for_user), its RuleForm (so the
conditions are checked, and refused, exactly as on the page) and its add_rule / move_rule
(incidents/views/rules.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

from django.http import HttpRequest
from ninja import Field, Path, Router, Schema, Status

from console.api_kit import READ, WRITE, ProblemError, validated
from incidents.api.incidents import MAX_ID, ObjectId
from incidents.intake.models import RoutingRule
from incidents.permissions import require_perm
from incidents.views.rules import (
    MAX_CONDITIONS,
    RuleForm,
    add_rule,
    get_rule_for_user,
    move_rule,
)

router = Router(tags=["routing rules"])

RuleId = Annotated[int, Path(ge=1, le=MAX_ID, description="The rule's id")]


class Condition(Schema):
    field: str = Field(max_length=200, description="labels.<name>, annotations.<name>, title, …")
    op: Literal["equals", "regex", "exists"] = "equals"
    value: str = Field(default="", max_length=500)


class RuleIn(Schema):
    name: str = Field(max_length=200)
    enabled: bool = True
    integration_id: ObjectId | None = Field(default=None, description="Empty: every integration")
    conditions: list[Condition] = Field(max_length=MAX_CONDITIONS, description="All must match")
    action: Literal["route", "drop"] = "route"
    severity: Literal["", "P0", "P1", "P2", "P3"] = ""
    service_id: ObjectId | None = None
    scenario_title: str = Field(default="", max_length=300)


class RuleOut(Schema):
    id: int
    position: int
    name: str
    enabled: bool
    integration_id: int | None
    conditions: list[Condition]
    action: str
    severity: str
    service_id: int | None
    scenario_title: str


class MoveIn(Schema):
    direction: Literal["up", "down"]


def rule_data(rule: RoutingRule) -> dict:
    return {
        "id": rule.pk,
        "position": rule.position,
        "name": rule.name,
        "enabled": rule.enabled,
        "integration_id": rule.integration_id,
        "conditions": [
            {"field": c.get("field", ""), "op": c.get("op", "equals"), "value": c.get("value", "")}
            for c in rule.conditions
        ],
        "action": rule.action,
        "severity": rule.severity,
        "service_id": rule.service_id,
        "scenario_title": rule.scenario_title,
    }


def _form_data(payload: RuleIn) -> dict:
    """The API's rule as the rule form posts it: the conditions as its numbered rows."""
    data = {
        "name": payload.name,
        "integration": str(payload.integration_id or ""),
        "action": payload.action,
        "severity": payload.severity,
        "service": str(payload.service_id or ""),
        "scenario_title": payload.scenario_title,
    }
    if payload.enabled:
        data["enabled"] = "on"
    for index, condition in enumerate(payload.conditions):
        data[f"field_{index}"] = condition.field
        data[f"op_{index}"] = condition.op
        data[f"value_{index}"] = condition.value
    return data


def _valid(form: RuleForm) -> None:
    """validated(), with the form's condition rows (value_0) named as the API's body names
    them (conditions.0.value)."""
    try:
        validated(form)
    except ProblemError as exc:
        for error in exc.errors or []:
            name, _, index = error["field"].rpartition("_")
            if name in ("field", "op", "value") and index.isdigit():
                error["field"] = f"conditions.{index}.{name}"
        raise


@router.get("", response={200: list[RuleOut], **READ}, summary="List routing rules")
def list_rules(request: HttpRequest):
    """In the order they are tried (the first enabled rule that matches decides): one query."""
    require_perm(request, "incidents.view_routingrule")
    return [rule_data(rule) for rule in RoutingRule.objects.order_by("position", "id")]


@router.post("", response={201: RuleOut, **WRITE}, summary="Add a rule (last in the order)")
def create_rule(request: HttpRequest, payload: RuleIn):
    require_perm(request, "incidents.view_routingrule")
    require_perm(request, "incidents.add_routingrule")
    form = RuleForm(data=_form_data(payload))
    _valid(form)
    return Status(201, rule_data(add_rule(form)))


@router.get("/{rule_id}", response={200: RuleOut, **READ}, summary="Read a rule")
def get_rule(request: HttpRequest, rule_id: RuleId):
    return rule_data(get_rule_for_user(request, rule_id))


@router.put("/{rule_id}", response={200: RuleOut, **WRITE}, summary="Replace a rule")
def update_rule(request: HttpRequest, rule_id: RuleId, payload: RuleIn):
    """Every field; the rule keeps its place in the order."""
    rule = get_rule_for_user(request, rule_id, "incidents.change_routingrule")
    form = RuleForm(data=_form_data(payload), instance=rule)
    _valid(form)
    return rule_data(form.save())


@router.post("/{rule_id}/move", response={200: list[RuleOut], **WRITE}, summary="Move a rule")
def move(request: HttpRequest, rule_id: RuleId, payload: MoveIn):
    """Swap with the rule above or below; answers the whole order. 409 at that end already."""
    rule = get_rule_for_user(request, rule_id, "incidents.change_routingrule")
    if not move_rule(rule, up=payload.direction == "up"):
        end = "first" if payload.direction == "up" else "last"
        raise ProblemError(409, f"“{rule.name}” is already {end}.")
    return [rule_data(r) for r in RoutingRule.objects.order_by("position", "id")]


@router.delete("/{rule_id}", response={204: None, **WRITE}, summary="Delete a rule")
def delete_rule(request: HttpRequest, rule_id: RuleId):
    rule = get_rule_for_user(request, rule_id, "incidents.delete_routingrule")
    rule.delete()
    return Status(204, None)
