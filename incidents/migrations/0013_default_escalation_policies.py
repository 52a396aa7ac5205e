"""The default escalation policies (runbooks 001 and 002) and the empty "Primary on-call"
rotation their first levels page. Runs once, on a database without policies."""

from django.db import migrations

from incidents.escalation import defaults


def add_defaults(apps, schema_editor):
    defaults.install(
        {
            "Policy": apps.get_model("incidents", "EscalationPolicy"),
            "Level": apps.get_model("incidents", "EscalationLevel"),
            "Rotation": apps.get_model("incidents", "OnCallRotation"),
            "Group": apps.get_model("auth", "Group"),
        }
    )


def remove_defaults(apps, schema_editor):
    apps.get_model("incidents", "EscalationPolicy").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("incidents", "0012_escalation"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [migrations.RunPython(add_defaults, remove_defaults)]
