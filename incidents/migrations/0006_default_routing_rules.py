"""The team's alert names (runbook 001) routed to their severity and scenario. Leads edit or
reorder them afterwards; this runs once, on a database without rules."""

from django.db import migrations

from incidents.intake.routing import DEFAULT_RULES


def add_defaults(apps, schema_editor):
    RoutingRule = apps.get_model("incidents", "RoutingRule")
    if RoutingRule.objects.exists():
        return
    RoutingRule.objects.bulk_create(
        RoutingRule(
            position=(index + 1) * 10,
            name=f"{alertname} → {severity}",
            conditions=[{"field": "labels.alertname", "op": "equals", "value": alertname}],
            action="route",
            severity=severity,
            scenario_title=scenario,
        )
        for index, (alertname, severity, scenario) in enumerate(DEFAULT_RULES)
    )


def remove_defaults(apps, schema_editor):
    RoutingRule = apps.get_model("incidents", "RoutingRule")
    names = [f"{alertname} → {severity}" for alertname, severity, _ in DEFAULT_RULES]
    RoutingRule.objects.filter(name__in=names).delete()


class Migration(migrations.Migration):
    dependencies = [("incidents", "0005_alert_intake")]
    operations = [migrations.RunPython(add_defaults, remove_defaults)]
