"""Routing rules: ordered, first match decides. A rule matches when every condition holds on
the delivery's fields (`labels.alertname`, `annotations.summary`, `title`, `severity`,
`service`, `status`, `receiver`); it then drops the delivery or sets severity, service and the
runbook scenario to attach."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import F, Q

from incidents.intake.models import Integration, RoutingRule
from incidents.models import Service
from runbooks.models import Scenario

OPS = ("equals", "regex", "exists")

# The team's alert names (runbook 001) → severity and the scenario that handles them.
DEFAULT_RULES = [
    ("DatabaseConnectionExhaustion", "P0", "Database Connection Exhaustion"),
    ("PaymentProcessingFailure", "P0", "Payment Processing Failure"),
    ("WebhookVerificationFailure", "P0", "Webhook Security Alert"),
    ("WebhookReplayAttack", "P0", "Webhook Security Alert"),
    ("CircuitBreakerOpen", "P0", "Circuit Breaker Open (External Service)"),
    ("HighErrorRate", "P1", "High Error Rate"),
    ("HighLatencyP95", "P1", "High Latency"),
    ("HighLatencyP99", "P1", "High Latency"),
    ("LowCacheHitRate", "P2", "Cache Issues"),
    ("HighIdempotencyKeyExpiry", "P2", "Idempotency Issues"),
]


def validate_conditions(conditions: object) -> list[dict]:
    if not isinstance(conditions, list):
        raise ValidationError("Conditions are a list of {field, op, value}.")
    for index, condition in enumerate(conditions, start=1):
        if not isinstance(condition, dict) or not isinstance(condition.get("field"), str):
            raise ValidationError(f"Condition {index}: name a field such as labels.alertname.")
        if condition.get("op") not in OPS:
            raise ValidationError(f"Condition {index}: the operator is one of {', '.join(OPS)}.")
        if condition["op"] != "exists" and not isinstance(condition.get("value"), str):
            raise ValidationError(f"Condition {index}: give a value to compare with.")
        if condition["op"] == "regex":
            try:
                re.compile(condition["value"])
            except re.error as exc:
                raise ValidationError(
                    f"Condition {index}: bad regular expression: {exc}."
                ) from None
    return conditions


def field_value(context: dict, path: str) -> tuple[bool, str]:
    current: object = context
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return False, ""
        current = current[part]
    if current in (None, ""):
        return False, ""
    return True, str(current)


def matches(rule: RoutingRule, context: dict) -> bool:
    for condition in rule.conditions:
        found, value = field_value(context, condition["field"])
        op = condition["op"]
        if op == "exists" and not found:
            return False
        if op == "equals" and (not found or value != condition["value"]):
            return False
        # Anchored, as Alertmanager's =~ matchers are.
        if op == "regex" and (not found or not re.fullmatch(condition["value"], value)):
            return False
    return True


@dataclass
class Decision:
    drop: bool
    severity: str
    services: list[Service]
    scenario: Scenario | None
    rule: RoutingRule | None


def current_scenario(title: str, memo: dict | None = None) -> Scenario | None:
    """The scenario of that title in a runbook's current version."""
    if not title:
        return None
    if memo is not None:
        key = ("scenario", title.lower())
        if key not in memo:
            memo[key] = current_scenario(title)
        return memo[key]
    return (
        Scenario.objects.units()
        .filter(title__iexact=title, version__runbook__current_version=F("version"))
        .select_related("version__runbook")
        .first()
    )


def decide(
    integration: Integration,
    context: dict,
    severity: str,
    service: str,
    memo: dict | None = None,
) -> Decision:
    """The first matching rule's decision on a group (its `context`, see Alert.context), with
    the group's own severity and service name where the rule sets none. `memo`: a dict kept
    over a batch of groups, so rules, services and scenarios are read once per batch."""
    memo = {} if memo is None else memo
    if ("rules", integration.pk) not in memo:
        memo[("rules", integration.pk)] = list(
            RoutingRule.objects.filter(enabled=True)
            .filter(Q(integration__isnull=True) | Q(integration=integration))
            .select_related("service")
        )
    rules = memo[("rules", integration.pk)]
    rule = next((r for r in rules if matches(r, context)), None)
    if rule is not None and rule.action == RoutingRule.Action.DROP:
        return Decision(True, "", [], None, rule)
    severity = (rule.severity if rule else "") or severity or integration.default_severity
    found = rule.service if rule and rule.service_id else None
    if found is None and service:
        if ("service", service.lower()) not in memo:
            memo[("service", service.lower())] = Service.objects.filter(
                name__iexact=service
            ).first()
        found = memo[("service", service.lower())]
    if found is None:
        found = integration.default_service
    scenario = current_scenario(rule.scenario_title, memo) if rule else None
    return Decision(False, severity, [found] if found else [], scenario, rule)
