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

    from incidents.intake.process import kick_key

    done = drain(integration_id, older_than_seconds)
    if integration_id is not None:
        cache.delete(kick_key(integration_id))
        done += drain(integration_id, 0)
    return done


def drain(integration_id: int | None, older_than_seconds: float) -> int:
    from incidents.intake.models import InboundEvent
    from incidents.intake.process import process_event

    done = 0
    while True:
        pending = InboundEvent.objects.filter(state=InboundEvent.State.PENDING)
        if integration_id is not None:
            pending = pending.filter(integration_id=integration_id)
        if older_than_seconds:
            cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
            pending = pending.filter(received_at__lte=cutoff)
        batch = list(pending.order_by("id").values_list("pk", flat=True)[:200])
        if not batch:
            return done
        for event_id in batch:
            try:
                process_event(event_id)
            except Exception as exc:  # noqa: BLE001 - one bad delivery must not block the rest
                log.exception("delivery %s failed", event_id)
                InboundEvent.objects.filter(
                    pk=event_id, state=InboundEvent.State.PENDING
                ).update(
                    state=InboundEvent.State.FAILED,
                    error=f"{type(exc).__name__}: {exc}"[:2000],
                    processed_at=timezone.now(),
                )
        done += len(batch)
