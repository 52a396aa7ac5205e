from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from console.queue import enqueue
from incidents import actions
from incidents.models import Incident

log = logging.getLogger(__name__)


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


@shared_task(ignore_result=True)
def process_pending(integration_id: int | None = None, older_than_seconds: float = 0) -> int:
    """Process the pending deliveries (of one integration, or all), oldest first, until none
    is left. Kicked by the hook, and run by beat as a sweep for anything a kick missed.

    A kicked drain forgets its kick before one last pass: a delivery stored before that sees
    the last pass; one stored after it finds no kick and queues a new drain.
    """
    from django.core.cache import cache

    from incidents.intake.process import drain, kick_key, refresh_health

    done = drain(integration_id, older_than_seconds)
    if integration_id is not None:
        cache.delete(kick_key(integration_id))
        done += drain(integration_id, 0)
    else:  # beat's sweep: the console-health banner's counts
        refresh_health()
    return done
