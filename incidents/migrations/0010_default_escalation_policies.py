"""The default escalation policies (runbooks 001 and 002) and the empty "Primary on-call"
rotation their first levels page. Runs once, on a database without policies."""

import datetime

from django.db import migrations

from incidents.escalation.defaults import DEFAULT_POLICIES, PRIMARY_ROTATION


def add_defaults(apps, schema_editor):
    Policy = apps.get_model("incidents", "EscalationPolicy")
    Level = apps.get_model("incidents", "EscalationLevel")
    Rotation = apps.get_model("incidents", "OnCallRotation")
    Group = apps.get_model("auth", "Group")
    if Policy.objects.exists():
        return
    rotation, _ = Rotation.objects.get_or_create(
        name=PRIMARY_ROTATION,
        defaults={
            "period": "weekly",
            "handoff_time": datetime.time(9, 0),
            "timezone": "UTC",
            "starts_on": datetime.date(2026, 1, 5),
        },
    )
    for severity, (ack_minutes, levels) in DEFAULT_POLICIES.items():
        policy = Policy.objects.create(severity=severity, ack_minutes=ack_minutes)
        for position, (name, delay, (kind, target), channels) in enumerate(levels, start=1):
            level = Level(
                policy=policy, position=position, name=name, delay_minutes=delay, channels=channels
            )
            if kind == "rotation":
                level.rotation = rotation
            else:
                level.group, _ = Group.objects.get_or_create(name=target)
            level.save()


def remove_defaults(apps, schema_editor):
    apps.get_model("incidents", "EscalationPolicy").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0009_escalation"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(add_defaults, remove_defaults)]
