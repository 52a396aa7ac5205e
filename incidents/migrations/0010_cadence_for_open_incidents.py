"""Open incidents declared before status updates existed get a cadence: their first update
is due one cadence from now (not from their declaration, which would remind at once)."""

from __future__ import annotations

from datetime import timedelta

from django.db import migrations
from django.utils import timezone

CADENCE_MINUTES = {"P0": 15, "P1": 30, "P2": 30, "P3": 30}


def start_cadences(apps, schema_editor) -> None:
    Incident = apps.get_model("incidents", "Incident")
    UpdateCadence = apps.get_model("incidents", "UpdateCadence")
    now = timezone.now()
    UpdateCadence.objects.bulk_create(
        [
            UpdateCadence(incident_id=pk, due_at=now + timedelta(minutes=CADENCE_MINUTES[severity]))
            for pk, severity in Incident.objects.exclude(status="resolved")
            .filter(update_cadence__isnull=True)
            .values_list("pk", "severity")
        ]
    )


class Migration(migrations.Migration):
    dependencies = [("incidents", "0009_status_updates")]

    operations = [migrations.RunPython(start_cadences, migrations.RunPython.noop)]
