from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from console.queue import enqueue
from incidents import actions
from incidents.models import Incident


@shared_task(ignore_result=True)
def check_ack_target(incident_id: int) -> bool:
    """Runs at the acknowledgement deadline; a no-op if acknowledged or already recorded."""
    return actions.record_ack_breach(incident_id)


@shared_task(ignore_result=True)
def sweep_ack_targets(limit: int = 500) -> int:
    """Beat's safety net for deadlines whose timer was never queued (broker down at declare)."""
    due = (
        Incident.objects.open()
        .filter(
            acknowledged_at__isnull=True,
            ack_breach_recorded_at__isnull=True,
            ack_due_at__lte=timezone.now(),
        )
        .order_by("ack_due_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(actions.record_ack_breach(pk) for pk in list(due))


def schedule_ack_check(incident: Incident) -> bool:
    """Queue the deadline check; False when the broker is unreachable (the sweep covers it)."""
    return enqueue(check_ack_target, incident.pk, eta=incident.ack_due_at)
