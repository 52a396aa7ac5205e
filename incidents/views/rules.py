"""Routing rules for leads: the ordered list, the form (up to five conditions of field,
operator and value, checked with routing.validate_conditions), moving, enabling and deleting.

Rules are one global order: the first enabled rule that matches a delivery decides. Moving a
rule renumbers the list inside one transaction, so two rules never share a place.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from console.formtoken import one_time_form
from console.switches import posted_switch, refuse
from incidents.intake.models import Integration, RoutingRule
from incidents.intake.routing import OPS, validate_conditions
from incidents.models import Service, Severity
from incidents.permissions import require_perm
from runbooks.models import Scenario

MAX_CONDITIONS = 5
# What routing.field_value can reach in a delivery's context (formats.Alert.context).
MAP_FIELDS = ("labels", "annotations")
PLAIN_FIELDS = ("title", "severity", "service", "status", "receiver")
FIELD_SUGGESTIONS = (
    "labels.alertname",
    "labels.severity",
    "labels.service",
    "labels.instance",
    "labels.job",
    "labels.team",
    "annotations.summary",
    *PLAIN_FIELDS,
)
OP_SIGNS = {"equals": "=", "regex": "=~", "exists": "exists"}
OP_CHOICES = [("equals", "equals"), ("regex", "matches regex"), ("exists", "exists")]
assert {value for value, _ in OP_CHOICES} == set(OPS)


# -- access ----------------------------------------------------------------------------------
def get_rule_for_user(request: HttpRequest, pk: int, perm: str | None = None) -> RoutingRule:
    require_perm(request, "incidents.view_routingrule")
    if perm:
        require_perm(request, perm)
    return get_object_or_404(RoutingRule, pk=pk)


# -- reading ---------------------------------------------------------------------------------
def current_scenario_titles() -> list[str]:
    """Titles of the scenarios in each runbook's current version (what a rule can attach)."""
    return list(
        Scenario.objects.units()
        .filter(version__runbook__current_version=F("version"))
        .order_by("title")
        .values_list("title", flat=True)
        .distinct()
    )


def condition_text(condition: dict) -> tuple[str, str, str]:
    sign = OP_SIGNS.get(condition.get("op"), str(condition.get("op")))
    value = "" if condition.get("op") == "exists" else str(condition.get("value", ""))
    return str(condition.get("field", "")), sign, value


@require_safe
@login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    require_perm(request, "incidents.view_routingrule")
    rules = list(RoutingRule.objects.select_related("integration", "service"))
    known = {title.lower() for title in current_scenario_titles()}
    for rule in rules:
        rule.condition_rows = [condition_text(c) for c in rule.conditions]
        rule.scenario_missing = (
            bool(rule.scenario_title) and rule.scenario_title.lower() not in known
        )
    context = {"rules": rules, "nav": "integrations"}
    return render(request, "incidents/rules.html", context)


def field_error(path: str) -> str | None:
    root, _, rest = path.partition(".")
    if root in MAP_FIELDS and rest and "." not in rest:
        return None
    if path in PLAIN_FIELDS:
        return None
    return (
        f"Match on labels.<name>, annotations.<name> or one of {', '.join(PLAIN_FIELDS)}; "
        f"“{path}” is none of them."
    )


class RuleForm(forms.ModelForm):
    integration = forms.ModelChoiceField(
        Integration.objects.all(), required=False, empty_label="All integrations"
    )
    severity = forms.ChoiceField(
        choices=[("", "From the alert (or the integration's default)"), *Severity.choices],
        required=False,
    )
    service = forms.ModelChoiceField(
        Service.objects.all(), required=False, empty_label="From the alert (or the integration)"
    )

    class Meta:
        model = RoutingRule
        fields = [
            "name",
            "enabled",
            "integration",
            "action",
            "severity",
            "service",
            "scenario_title",
        ]
        widgets = {
            "name": forms.TextInput(attrs={"placeholder": "e.g. Checkout latency → P1"}),
            "action": forms.RadioSelect,
            "scenario_title": forms.TextInput(
                attrs={"list": "scenario-titles", "placeholder": "A scenario of a runbook"}
            ),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        existing = list(self.instance.conditions or []) if self.instance.pk else []
        for index in range(MAX_CONDITIONS):
            given = existing[index] if index < len(existing) else {}
            self.fields[f"field_{index}"] = forms.CharField(
                required=False, max_length=200, initial=given.get("field", "")
            )
            self.fields[f"op_{index}"] = forms.ChoiceField(
                choices=OP_CHOICES, required=False, initial=given.get("op", "equals")
            )
            self.fields[f"value_{index}"] = forms.CharField(
                required=False, max_length=500, initial=given.get("value", "")
            )
            for name in ("field", "op", "value"):
                self.fields[f"{name}_{index}"].widget.attrs["aria-label"] = (
                    f"Condition {index + 1}: {name}"
                )
            self.fields[f"field_{index}"].widget.attrs["list"] = "condition-fields"

    def condition_rows(self) -> list[dict]:
        return [
            {
                "number": index + 1,
                "field": self[f"field_{index}"],
                "op": self[f"op_{index}"],
                "value": self[f"value_{index}"],
                "errors": [
                    *self[f"field_{index}"].errors,
                    *self[f"op_{index}"].errors,
                    *self[f"value_{index}"].errors,
                ],
            }
            for index in range(MAX_CONDITIONS)
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        conditions = []
        for index in range(MAX_CONDITIONS):
            condition = self.clean_condition(index, cleaned)
            if condition is not None:
                conditions.append(condition)
        if not conditions and not any(f"field_{i}" in self.errors for i in range(MAX_CONDITIONS)):
            raise ValidationError(
                "Add at least one condition: a rule without one would match every alert."
            )
        try:
            cleaned["conditions"] = validate_conditions(conditions)
        except ValidationError as exc:
            self.add_error(None, exc)
        if cleaned.get("action") == RoutingRule.Action.DROP:
            # A dropped delivery opens nothing: these would never apply.
            cleaned.update(severity="", service=None, scenario_title="")
        return cleaned

    def clean_condition(self, index: int, cleaned: dict) -> dict | None:
        path = (cleaned.get(f"field_{index}") or "").strip()
        op = cleaned.get(f"op_{index}") or "equals"
        value = cleaned.get(f"value_{index}") or ""
        if not path and not value:
            return None
        if not path:
            self.add_error(f"field_{index}", "Name the field this value is compared with.")
            return None
        problem = field_error(path)
        if problem:
            self.add_error(f"field_{index}", problem)
            return None
        condition = {"field": path, "op": op}
        if op != "exists":
            if not value:
                self.add_error(f"value_{index}", f"Give a value for “{path}” to {op}.")
                return None
            condition["value"] = value
        try:
            validate_conditions([condition])
        except ValidationError as exc:
            message = " ".join(exc.messages).removeprefix("Condition 1: ")
            self.add_error(f"value_{index}", message)
            return None
        return condition

    def save(self, commit: bool = True) -> RoutingRule:
        rule = super().save(commit=False)
        rule.conditions = self.cleaned_data["conditions"]
        if rule.action == RoutingRule.Action.DROP:
            rule.severity, rule.service, rule.scenario_title = "", None, ""
        if commit:
            rule.save()
        return rule


def rule_form_page(request: HttpRequest, form: RuleForm, rule: RoutingRule | None) -> HttpResponse:
    context = {
        "form": form,
        "rule": rule,
        "scenario_titles": current_scenario_titles(),
        "field_suggestions": FIELD_SUGGESTIONS,
        "nav": "integrations",
    }
    return render(request, "incidents/rule_form.html", context, status=422 if form.errors else 200)


def add_rule(form: RuleForm) -> RoutingRule:
    """Save a valid form's rule last in the order (the page's and the API's way to add one)."""
    with transaction.atomic():
        rule = form.save(commit=False)
        last = RoutingRule.objects.aggregate(last=Max("position"))["last"] or 0
        rule.position = last + 10
        rule.save()
    return rule


@require_http_methods(["GET", "POST"])
@login_required
@one_time_form
def rule_new(request: HttpRequest) -> HttpResponse:
    require_perm(request, "incidents.add_routingrule")
    form = RuleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        rule = add_rule(form)
        messages.success(request, f"Rule “{rule.name}” added last: move it up to match first.")
        return redirect(f"{reverse('incidents:rules')}#rule-{rule.pk}")
    return rule_form_page(request, form, None)


@require_http_methods(["GET", "POST"])
@login_required
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_rule_for_user(request, pk, "incidents.change_routingrule")
    form = RuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Rule “{rule.name}” saved.")
        return redirect(f"{reverse('incidents:rules')}#rule-{rule.pk}")
    return rule_form_page(request, form, rule)


def move_rule(rule: RoutingRule, up: bool) -> bool:
    """Swap the rule with its neighbour in the order; False when it is already at that end.
    The whole order is locked and renumbered 10, 20, 30…, so ties can't make a move a no-op."""
    with transaction.atomic():
        rules = list(RoutingRule.objects.select_for_update().order_by("position", "id"))
        index = next((n for n, r in enumerate(rules) if r.pk == rule.pk), None)
        other = None if index is None else index - 1 if up else index + 1
        if other is None or not 0 <= other < len(rules):
            return False
        rules[index], rules[other] = rules[other], rules[index]
        changed = []
        for number, each in enumerate(rules, start=1):
            if each.position != number * 10:
                each.position = number * 10
                changed.append(each)
        RoutingRule.objects.bulk_update(changed, ["position"])
    return True


@require_POST
@login_required
def rule_move(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_rule_for_user(request, pk, "incidents.change_routingrule")
    direction = request.POST.get("direction")
    if direction not in ("up", "down"):
        return refuse("Say direction=up or direction=down.")
    if not move_rule(rule, up=direction == "up"):
        messages.warning(
            request, f"“{rule.name}” is already {'first' if direction == 'up' else 'last'}."
        )
    return redirect(f"{reverse('incidents:rules')}#rule-{rule.pk}")


@require_POST
@login_required
def rule_enabled(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_rule_for_user(request, pk, "incidents.change_routingrule")
    enabled = posted_switch(request)
    if enabled is None:
        return refuse("Say enabled=1 to apply the rule or enabled=0 to skip it.")
    RoutingRule.objects.filter(pk=rule.pk).update(enabled=enabled)
    messages.success(
        request,
        f"Rule “{rule.name}” applies again." if enabled else f"Rule “{rule.name}” is skipped.",
    )
    return redirect(f"{reverse('incidents:rules')}#rule-{rule.pk}")


@require_POST
@login_required
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_rule_for_user(request, pk, "incidents.delete_routingrule")
    rule.delete()
    messages.success(request, f"Rule “{rule.name}” deleted.")
    return redirect("incidents:rules")
